"""Does the HTTP edge (app/http/protocol.py, the body budget) cost the single-record path anything?

Serves the same model from this checkout and from a baseline commit (``git archive``), both through
``ctr serve`` with one worker pinned to CPU 0, and drives each with ``wrk`` (pinned to CPU 1) posting
single-record bodies over keep-alive connections, alternating the two ``--rounds`` times (and which
goes first) so that a noisy neighbour hurts both alike. Reports requests/s and server CPU-µs per request (user + system
CPU of the server process / requests: less sensitive to a shared machine than wall-clock rates).
Then, in-process and without sockets, the CPU per request of uvicorn's protocol alone and of
``EdgeProtocol`` with a trivial app: the protocol's own cost, which a shared machine's noise hides
in the end-to-end figures.

    python -m load_tests.edge_bench ARTIFACT --baseline de98a1a --out reports/edge_bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from load_tests.abuse_clients import score_body
from load_tests.server import ROOT, ServerProcess
from load_tests.wrk import run_wrk, write_bodies


def checkout(commit: str, into: Path) -> Path:
    """The tree of ``commit`` in ``into`` (``git archive``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def one_round(server: ServerProcess, bodies: Path, seconds: float, connections: int) -> dict[str, float]:
    before = server.cpu_seconds()
    result = run_wrk(f"{server.url}/v1/score", bodies, connections=connections, seconds=seconds, cpu=1)
    cpu = server.cpu_seconds() - before
    return {"requests_per_second": result.requests / result.seconds, "errors": result.errors,
            "cpu_us_per_request": cpu / max(result.requests, 1) * 1e6}  # fmt: skip


def run(artifact: Path, baseline: str, rounds: int, seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        bodies = write_bodies([score_body(artifact, seed=i) for i in range(200)], Path(tmp) / "bodies.txt")
        old_tree = checkout(baseline, Path(tmp) / "baseline")
        env = {"CTR_MODEL_DIR": str(artifact)}
        servers = {"edge": ServerProcess(env, cpu=0, cli=True),
                   "baseline": ServerProcess(env, cpu=0, cli=True, tree=old_tree)}  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        try:
            for server in servers.values():
                server.start(timeout=90)
            for i in range(rounds):
                order = list(servers.items())
                for name, server in order[:: 1 if i % 2 == 0 else -1]:  # which runs first alternates too
                    runs[name].append(one_round(server, bodies, seconds, connections))
        finally:
            for server in servers.values():
                server.stop()
    summary = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in runs.items()}
    cost = summary["edge"]["cpu_us_per_request"] / summary["baseline"]["cpu_us_per_request"] - 1
    return {"baseline_commit": baseline, "rounds": rounds, "seconds": seconds, "connections": connections,
            "runs": runs, "median": summary, "edge_cpu_per_request_vs_baseline": round(cost, 4)}  # fmt: skip


class _Transport(asyncio.Transport):
    """Enough of a socket transport for a protocol to run requests through: writes go nowhere."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("peername", "sockname") else default

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def _drive(protocol_class: type, state: Any, request: bytes, n: int) -> float:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    config = Config(app=_answer, lifespan="off", proxy_headers=False, access_log=False, log_config=None)
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={"ctr": state})
    protocol.connection_made(_Transport())
    started = time.process_time()
    for _ in range(n):
        protocol.data_received(request)
        while protocol.tasks:  # the request's task runs and answers
            await asyncio.sleep(0)
    return (time.process_time() - started) / n * 1e6


def protocol_overhead(body: bytes, n: int = 20_000, rounds: int = 7) -> dict[str, Any]:
    """CPU-µs per keep-alive request through uvicorn's HttpToolsProtocol and through EdgeProtocol, in-process
    with a trivial app (no sockets, no scoring: only what the protocol adds), alternated ``rounds`` times."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from app.http.protocol import EdgeProtocol
    from app.metrics import Metrics
    from app.settings import Settings
    from app.state import ServerState as CtrState

    state = CtrState(settings=Settings(), metrics=Metrics())
    request = b"POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    request += b"content-length: %d\r\n\r\n" % len(body) + body
    runs: dict[str, list[float]] = {"httptools": [], "edge": []}
    for _ in range(rounds):
        runs["httptools"].append(asyncio.run(_drive(HttpToolsProtocol, state, request, n)))
        runs["edge"].append(asyncio.run(_drive(EdgeProtocol, state, request, n)))
    median = {name: statistics.median(values) for name, values in runs.items()}
    return {"requests_per_round": n, "runs_us": runs, "median_us": median,
            "edge_minus_httptools_us": round(median["edge"] - median["httptools"], 3)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="single-record serving cost: this checkout vs a baseline commit")
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--baseline", required=True, help="commit to compare with (e.g. the merge base)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("reports/edge_bench.json"))
    args = parser.parse_args(argv)
    report = run(args.artifact, args.baseline, args.rounds, args.seconds, args.connections)
    report["protocol_overhead"] = protocol_overhead(score_body(args.artifact))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report["median"]).decode(), "edge vs baseline CPU/request:",
          f"{report['edge_cpu_per_request_vs_baseline']:+.1%}", "protocol alone:",
          orjson.dumps(report["protocol_overhead"]["median_us"]).decode())  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
