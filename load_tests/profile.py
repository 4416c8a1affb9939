"""Where a scoring request's CPU goes: py-spy samples of a server under wrk load, summarised.

    python -m load_tests.profile [--artifact models/ml100k] [--seconds 10] [--out reports/profile.json]

Opt-in (needs the ``bench`` extra for py-spy, ``wrk`` — ``load_tests/setup.sh`` — and a trained
artifact). For each shape (one record; 256 records as ``columns``; a ``/v1/rank`` of 1,000
candidates; with ``--shapes rank_ids``, a ``/v1/rank`` of 1,000 catalog ids) a fresh server is pinned to CPU 0,
wrk drives it from CPU 1 with MovieLens test-split requests, and py-spy samples the server for
``--seconds``. Frames are summed into stages (HTTP server, framework, JSON parsing, encoding,
lookup, inference, response, metrics) plus the top functions by own time. Writes JSON and markdown.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from load_tests.server import ROOT, ServerProcess

SERVER_CPU, DRIVER_CPU = 0, 1
# First match wins, scanning a stack from its leaf: the innermost stage a sample is in.
STAGES = (
    ("inference (onnxruntime)", re.compile(r"onnxruntime|ScoringModel\.infer")),
    ("catalog id lookup (contract/catalog.py)", re.compile(r"contract/catalog\.py")),
    ("encoding (contract)", re.compile(r"contract/|ScoreRequest\.encode")),
    ("row lookup (store)", re.compile(r"app/stores/")),
    ("JSON parse + validation", re.compile(r"app/scoring/request\.py|orjson")),
    ("ranking (candidate cache, split FM)", re.compile(r"app/ranking/")),
    ("metrics (prometheus)", re.compile(r"prometheus_client|app/metrics\.py|app/http/middleware\.py")),
    ("our handler (rest)", re.compile(r"app/http/")),
    ("framework (FastAPI/Starlette)", re.compile(r"fastapi/|starlette/")),
    ("HTTP server (uvicorn, asyncio)", re.compile(r"uvicorn/|asyncio/|uvloop|httptools")),
)
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{path}", "rb"); wrk.body = f:read("*a"); f:close()
"""


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in STAGES:
            if pattern.search(frame):
                return name
    return "other"


def summarise(raw: str, top: int = 15) -> dict[str, Any]:
    """Stage shares and the top functions by own time from py-spy's ``--format raw`` output."""
    stages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        stages[stage_of(frames)] += n
        own[re.sub(r":\d+\)$", ")", frames[-1])] += n
    share = {k: round(v / total, 4) for k, v in stages.most_common()} if total else {}
    functions = [{"function": k, "share": round(v / total, 4)} for k, v in own.most_common(top)] if total else []
    return {"samples": total, "stages": share, "top_functions": functions}


def bodies(batch: int, columns: bool) -> bytes:
    from load_tests.redis_store import request_bodies

    body = orjson.loads(request_bodies(batch)[0])
    if columns:
        records = body["records"]
        keys = list(dict.fromkeys(k for r in records for k in r))
        body = {"columns": {k: [r.get(k) for r in records] for k in keys}}
    return orjson.dumps(body)


def rank_body(artifact: Path, candidates: int) -> bytes:
    """One context and ``candidates`` items of a fixed catalogue (the candidate cache's steady state)."""
    from contract.artifact import load_artifact
    from load_tests.workload import Workload

    workload = Workload(load_artifact(artifact).encoder, seed=0)
    return orjson.dumps(workload.rank_body(candidates, workload.catalogue(5000)))


def rank_ids_body(artifact: Path, candidates: int) -> bytes:
    """One context and the ids of ``candidates`` items of the artifact's candidate catalog."""
    from load_tests.rank_bench import catalogue_items

    items, key = catalogue_items(artifact, 5000)
    body = orjson.loads(rank_body(artifact, 1))
    return orjson.dumps({"context": body["context"], "candidate_ids": [item[key] for item in items[:candidates]]})


def profile_shape(artifact: Path, path: str, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        body_file, lua = Path(tmp, "body.json"), Path(tmp, "post.lua")
        body_file.write_bytes(body)
        lua.write_text(LUA.format(path=body_file))
        with ServerProcess({"CTR_MODEL_DIR": str(artifact)}, cpu=SERVER_CPU) as server:
            assert server.process is not None
            wrk = subprocess.Popen(
                ["taskset", "-c", str(DRIVER_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds + 3:.0f}s",
                 "-s", str(lua), f"{server.url}{path}"], stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.0)  # past connection set-up
            raw_file = Path(tmp, "raw.txt")
            subprocess.run(
                ["py-spy", "record", "-p", str(server.process.pid), "-d", f"{seconds:.0f}", "-r", "250",
                 "-f", "raw", "-o", str(raw_file), "--nonblocking"], check=True, capture_output=True,
            )  # fmt: skip
            out, _ = wrk.communicate()
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        return {"requests_per_second": float(rate.group(1)) if rate else None, **summarise(raw_file.read_text())}


def render(result: dict[str, Any]) -> str:
    lines = ["# Where the server's CPU goes (py-spy)", "", f"Command: `{result['command']}`", "",
             "Server pinned to CPU 0, wrk on CPU 1; shares of py-spy samples of the server process.", ""]  # fmt: skip
    for name, shape in result["shapes"].items():
        lines += [f"## {name} ({shape['requests_per_second']} req/s under profiling)", "",
                  "| stage | share |", "|---|---|"]  # fmt: skip
        lines += [f"| {k} | {v:.1%} |" for k, v in shape["stages"].items()]
        lines += ["", "| top functions by own time | share |", "|---|---|"]
        lines += [f"| `{f['function']}` | {f['share']:.1%} |" for f in shape["top_functions"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=ROOT / "models/ml100k", help="model directory")
    parser.add_argument("--seconds", type=float, default=10.0, help="py-spy sampling time per shape")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/profile.json", help="JSON (and .md) output")
    parser.add_argument("--shapes", default="record,columns,rank",
                        help="which of record, columns, rank, rank_ids (comma-separated)")  # fmt: skip
    args = parser.parse_args(argv)
    for tool in ("wrk", "py-spy", "taskset"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (load_tests/setup.sh; py-spy: pip install -e '.[bench]')", file=sys.stderr)
            return 2
    every = {
        "record": ("1 record", lambda: ("/v1/score", bodies(1, columns=False), 16)),
        "columns": ("256 records as columns", lambda: ("/v1/score", bodies(256, columns=True), 4)),
        "rank": ("/v1/rank 1 x 1000", lambda: ("/v1/rank", rank_body(args.artifact, 1000), 4)),
        "rank_ids": ("/v1/rank 1 x 1000 catalog ids", lambda: ("/v1/rank", rank_ids_body(args.artifact, 1000), 4)),
    }
    wanted = args.shapes.split(",")
    if unknown := [s for s in wanted if s not in every]:
        print(f"error: --shapes: unknown {unknown} (known: {', '.join(every)})", file=sys.stderr)
        return 2
    shapes = {every[s][0]: every[s][1]() for s in wanted}
    result: dict[str, Any] = {"command": "python -m load_tests.profile " + " ".join(argv or sys.argv[1:]), "shapes": {}}
    for name, (path, body, connections) in shapes.items():
        print(f"profiling {name} ...", file=sys.stderr)
        result["shapes"][name] = profile_shape(args.artifact, path, body, connections, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
