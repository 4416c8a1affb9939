"""/v1/rank vs the same candidates sent flat to /v1/score, in one run, over real HTTP.

    python -m load_tests.rank_bench --model-dir models/ml100k --store memory

For each shape 1 context x N candidates (default N = 1, 100, 1000) it drives one-worker servers
(pinned to --server-core; this process pins itself to --client-core) with request forms that ask
for the same scores:

* ``rank``: ``POST /v1/rank {"context": {...}, "candidates": [...]}`` on a server with the default
  candidate cache (warm: candidates come from a fixed catalogue, as in a recommender);
* ``rank_no_cache``: the same requests to a second server started with ``CTR_RANK_CACHE_SIZE=0``
  (every candidate validated, encoded, gathered and reduced on every request);
* ``flat_records``: ``POST /v1/score {"records": [...]}`` with the context repeated in every record
  (what a generic model server needs), and ``flat_columns``: the same rows in the column form;
* ``rank_explain``: ``rank`` with ``"explain": true`` (every candidate explained): the cost of
  explanations end to end, per explained row = (rank_explain - rank) / N;
* ``rank_ids``: ``POST /v1/rank {"context": {...}, "candidate_ids": [...]}``, the same candidates named by
  their id in the model version's candidate catalog (precomputed terms: nothing parsed or encoded
  per candidate), on the ``rank`` server.

Candidates are items of the artifact's candidate catalog (``ctr train`` writes it when the schema
names ``candidate_id``; ``ctr catalog build`` otherwise): real items with fixed fields, as a
recommender ranks them again and again, so every form scores the same items.

Each form runs closed-loop at 1 connection (latency of an otherwise idle server: p50/p99) and at
--connections (throughput). Forms are interleaved for --rounds rounds and pooled, so a change in
the machine's load during the run does not favour one form. Candidates scored per second =
requests/s x N. The server's CPU time per request (from /proc) is recorded too: on a machine
shared with other jobs it is a steadier measure of cost than wall-clock figures. The Redis store is
the same run: ``--store redis --redis-url redis://127.0.0.1:6379/0`` publishes the artifact under a
model name of its own, serves from it, and deletes it afterwards (``--env KEY=VALUE`` passes any
other server setting).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shlex
import sys
import time
import urllib.request
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from contract.artifact import load_artifact
from load_tests.loadgen import Connection, summarise
from load_tests.server import ServerProcess
from load_tests.workload import Workload

GOAL_SPEEDUP = 5.0
GOAL_P99_MS = 5.0
FORMS = ("rank_ids", "rank", "rank_no_cache", "flat_records", "flat_columns", "rank_explain")
PATHS = {"rank": "/v1/rank", "rank_no_cache": "/v1/rank", "flat_records": "/v1/score", "flat_columns": "/v1/score",
         "rank_explain": "/v1/rank", "rank_ids": "/v1/rank"}  # fmt: skip
RANK_FORMS = ("rank_ids", "rank", "rank_no_cache")  # judged against the flat forms


@dataclass(frozen=True)
class LoopResult:
    """One timed closed-loop run: every latency, the wall time, errors and the server's CPU time."""

    latencies_s: np.ndarray
    seconds: float
    errors: int
    server_cpu_seconds: float

    @staticmethod
    def pooled(results: Sequence[LoopResult]) -> LoopResult:
        """Several runs of the same load (interleaved rounds) as one."""
        return LoopResult(np.concatenate([r.latencies_s for r in results]), sum(r.seconds for r in results),
                          sum(r.errors for r in results), sum(r.server_cpu_seconds for r in results))  # fmt: skip

    def summary(self, items_per_request: int) -> dict[str, Any]:
        """Requests/s, items (candidates)/s, server CPU per request and latency percentiles (ms)."""
        n = len(self.latencies_s)
        return {
            "requests": n,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(n / self.seconds, 1),
            "items_per_s": round(n * items_per_request / self.seconds, 1),
            "server_cpu_ms_per_request": round(self.server_cpu_seconds * 1e3 / max(n, 1), 4),
            "latency_ms": {k: round(v, 3) for k, v in summarise(list(self.latencies_s)).items()},
        }


async def timed_loop(
    server: ServerProcess, path: str, bodies: Sequence[bytes], connections: int, seconds: float, warmup: float
) -> LoopResult:
    """Closed loop for ``seconds`` after ``warmup`` unmeasured seconds (load_tests.loadgen counts requests
    instead; a fixed duration keeps the forms' rounds comparable)."""
    conns = [await Connection("127.0.0.1", server.port).open() for _ in range(connections)]
    latencies: list[float] = []
    errors = 0
    measure_from = time.perf_counter() + warmup
    stop = measure_from + seconds
    cpu_start: list[float] = []

    async def worker(conn: Connection, offset: int) -> None:
        nonlocal errors
        for i in itertools.count(offset):
            sent = time.perf_counter()
            if sent >= stop:
                return
            if sent >= measure_from and not cpu_start:
                cpu_start.append(server.cpu_seconds())
            status, _ = await conn.post(path, bodies[i % len(bodies)])
            if sent >= measure_from:
                if status == 200:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

    try:
        await asyncio.gather(*(worker(c, k) for k, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    cpu = server.cpu_seconds() - (cpu_start[0] if cpu_start else server.cpu_seconds())
    return LoopResult(np.array(latencies), time.perf_counter() - measure_from, errors, cpu)


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())}


def catalogue_items(model_dir: Path, limit: int) -> tuple[list[dict[str, Any]], str]:
    """Up to ``limit`` items of the artifact's candidate catalog (their fields) and the id's request key."""
    from contract.catalog_files import load_catalog_dir

    artifact = load_artifact(model_dir)
    catalog = load_catalog_dir(artifact.path, artifact)
    if catalog is None:
        raise SystemExit(f"{artifact.path} has no candidate catalog: train with a schema naming candidate_id, "
                         "or run `ctr catalog build`")  # fmt: skip
    return [catalog.item(row) for row in range(min(len(catalog), limit))], catalog.source


def bodies_for(
    encoder: Any, n: int, count: int, seed: int, items: list[dict[str, Any]], key: str
) -> dict[str, list[bytes]]:
    """``count`` distinct requests of each form for shape 1 x ``n`` (same scores across forms)."""
    if n > len(items):
        raise SystemExit(f"shape 1x{n} needs {n} distinct catalog items; the catalog has {len(items)}")
    workload = Workload(encoder, seed=seed)
    out: dict[str, list[bytes]] = {form: [] for form in FORMS}
    for _ in range(count):
        body = workload.rank_body(n, items)
        out["rank"].append(orjson.dumps(body))
        out["rank_ids"].append(orjson.dumps({"context": body["context"],
                                             "candidate_ids": [c[key] for c in body["candidates"]]}))  # fmt: skip
        out["rank_explain"].append(orjson.dumps({**body, "explain": True}))
        out["flat_records"].append(orjson.dumps({"records": Workload.flat_records(body)}))
        out["flat_columns"].append(orjson.dumps({"columns": Workload.flat_columns(body)}))
    out["rank_no_cache"] = out["rank"]
    return out


def probabilities(url: str, path: str, body: bytes) -> np.ndarray:
    request = urllib.request.Request(url + path, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return np.array(json.loads(response.read())["probabilities"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Publish to Redis first when asked (a model name of its own, deleted afterwards), then measure."""
    if args.store != "redis" or not args.redis_url:
        return measure(args, {})
    from load_tests.redis_store import delete_model, publish_version

    model = f"rank-bench-{uuid.uuid4().hex[:8]}"
    publish_version(args.model_dir, args.redis_url, model)
    try:
        return measure(args, {"CTR_REDIS_URL": args.redis_url, "CTR_REDIS_MODEL": model})
    finally:
        delete_model(args.redis_url, model)


def measure(args: argparse.Namespace, store_env: dict[str, str]) -> dict[str, Any]:
    encoder = load_artifact(args.model_dir).encoder
    items, key = catalogue_items(args.model_dir, args.catalogue)
    env = {"CTR_MODEL_DIR": str(args.model_dir), "CTR_STORE": args.store, "CTR_MAX_CANDIDATES": "100000",
           "CTR_MAX_RECORDS": "100000", "CTR_MAX_BODY_BYTES": str(64 << 20), "CTR_BODY_BUDGET_BYTES": str(256 << 20),
           **store_env}  # fmt: skip
    env.update(kv.split("=", 1) for kv in args.env)
    if hasattr(os, "sched_setaffinity") and args.client_core is not None:
        os.sched_setaffinity(0, {args.client_core})  # the load generator away from the server's core
    loop = asyncio.new_event_loop()
    shapes = []
    before = machine_info()
    with ExitStack() as stack:
        cached = stack.enter_context(ServerProcess(env, cpu=args.server_core))
        uncached = stack.enter_context(ServerProcess({**env, "CTR_RANK_CACHE_SIZE": "0"}, cpu=args.server_core))
        server = {form: cached for form in FORMS} | {"rank_no_cache": uncached}
        url = {form: s.url for form, s in server.items()}
        for n in (int(s) for s in args.shapes.split(",")):
            bodies = bodies_for(encoder, n, args.distinct, args.seed, items, key)
            reference = probabilities(url["flat_records"], "/v1/score", bodies["flat_records"][0])
            entry: dict[str, Any] = {
                "shape": f"1x{n}",
                "candidates": n,
                "body_bytes": {form: len(b[0]) for form, b in bodies.items()},
                "max_abs_diff_vs_flat_records": {
                    form: float(np.abs(probabilities(url[form], PATHS[form], bodies[form][0]) - reference).max())
                    for form in FORMS
                },
            }
            runs: dict[tuple[str, int], list[LoopResult]] = {}
            for _ in range(args.rounds):
                for c in (1, args.connections):
                    for form in FORMS:
                        result = loop.run_until_complete(
                            timed_loop(server[form], PATHS[form], bodies[form], c, args.seconds, args.warmup)
                        )
                        runs.setdefault((form, c), []).append(result)
            for form in FORMS:
                entry[form] = {}
                for c in (1, args.connections):
                    summary = LoopResult.pooled(runs[form, c]).summary(n)
                    entry[form][f"connections_{c}"] = summary
                    print(f"1x{n:<5} {form:<14} c={c:<2} {summary['items_per_s']:>12,.0f} candidates/s  "
                          f"p50 {summary['latency_ms']['p50']:.3f} ms  p99 {summary['latency_ms']['p99']:.3f} ms  "
                          f"server CPU {summary['server_cpu_ms_per_request']:.3f} ms/request",
                          file=sys.stderr)  # fmt: skip
            entry["speedup_server_cpu"] = {
                f"{rank}_vs_{flat}": round(
                    entry[flat][f"connections_{args.connections}"]["server_cpu_ms_per_request"]
                    / entry[rank][f"connections_{args.connections}"]["server_cpu_ms_per_request"],
                    2,
                )
                for rank in RANK_FORMS
                for flat in ("flat_records", "flat_columns")
            }
            entry["speedup"] = {
                f"{rank}_vs_{flat}_connections_{c}": round(
                    entry[rank][f"connections_{c}"]["items_per_s"] / entry[flat][f"connections_{c}"]["items_per_s"], 2
                )
                for rank in RANK_FORMS
                for flat in ("flat_records", "flat_columns")
                for c in (1, args.connections)
            }
            rank_ms = entry["rank"]["connections_1"]["server_cpu_ms_per_request"]
            explain_ms = entry["rank_explain"]["connections_1"]["server_cpu_ms_per_request"]
            if rank_ms is not None and explain_ms is not None:
                entry["explain_server_cpu_us_per_row"] = round((explain_ms - rank_ms) * 1e3 / n, 2)
            shapes.append(entry)
    loop.close()
    return {"shapes": shapes, "machine_before": before, "machine_after": machine_info()}


def goals(shapes: list[dict[str, Any]], connections: int) -> dict[str, Any]:
    """The issue's goals at 1x1000, judged against the better of the two flat forms."""
    big = next((s for s in shapes if s["candidates"] == 1000), None)
    if big is None:
        return {}
    out: dict[str, Any] = {"speedup_goal": f">= {GOAL_SPEEDUP}", "p99_goal_ms": f"< {GOAL_P99_MS}"}
    for rank in RANK_FORMS:
        speedup = min(big["speedup"][f"{rank}_vs_{flat}_connections_{connections}"]
                      for flat in ("flat_records", "flat_columns"))  # fmt: skip
        p99 = big[rank]["connections_1"]["latency_ms"]["p99"]
        cpu_speedup = min(big["speedup_server_cpu"][f"{rank}_vs_{flat}"] for flat in ("flat_records", "flat_columns"))
        out[rank] = {
            "speedup_vs_best_flat_form_at_full_load": speedup,
            "server_cpu_per_candidate_speedup_vs_best_flat_form": cpu_speedup,
            "speedup_met": speedup >= GOAL_SPEEDUP,
            "p99_ms_one_connection": p99,
            "p99_met": p99 < GOAL_P99_MS,
        }
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables (one per shape), for reports/ and the docs."""
    c = report["setup"]["throughput_connections"]
    lines = [f"# /v1/rank vs flat /v1/score — store: {report['store']}", "",
             f"`{report['command']}`", "",
             f"Machine: {report['machine']['before']['cpus']} cores, loadavg before "
             f"{report['machine']['before']['loadavg'][0]:.2f}, after {report['machine']['after']['loadavg'][0]:.2f}. "
             f"{report['machine']['note']}", ""]  # fmt: skip
    for shape in report["shapes"]:
        lines += [f"## 1 x {shape['candidates']}", "",
                  f"| form | candidates/s (1 conn) | p50 ms | p99 ms | candidates/s ({c} conn) | server CPU ms/req |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for form in FORMS:
            one, full = shape[form]["connections_1"], shape[form][f"connections_{c}"]
            lines.append(f"| {form} | {one['items_per_s']:,.0f} | {one['latency_ms']['p50']:.3f} | "
                         f"{one['latency_ms']['p99']:.3f} | {full['items_per_s']:,.0f} | "
                         f"{full['server_cpu_ms_per_request']:.3f} |")  # fmt: skip
        lines.append("")
    goals_ = report.get("goals_1x1000") or {}
    for rank in RANK_FORMS:
        if rank in goals_:
            g = goals_[rank]
            lines.append(f"- {rank} at 1x1000: {g['speedup_vs_best_flat_form_at_full_load']}x the better flat form's "
                         f"candidates/s at {c} connections (goal >= {GOAL_SPEEDUP}); the better flat form used "
                         f"{g['server_cpu_per_candidate_speedup_vs_best_flat_form']}x its server CPU per candidate; "
                         f"p99 at 1 connection "
                         f"{g['p99_ms_one_connection']} ms (goal < {GOAL_P99_MS}).")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("models/ml100k"), help="artifact (ctr train)")
    parser.add_argument("--store", default="memory", help="CTR_STORE of the servers (and the report's label)")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="with --store redis: publish the artifact there first under a model name of its own (deleted afterwards)",
    )
    parser.add_argument("--env", action="append", default=[], help="extra server setting KEY=VALUE (repeatable)")
    parser.add_argument("--shapes", default="1,100,1000", help="candidate counts per request")
    parser.add_argument("--catalogue", type=int, default=5000, help="catalog items candidates are drawn from (at most)")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per form, concurrency, round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, pooled")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured seconds before each measurement")
    parser.add_argument("--connections", type=int, default=4, help="connections of the throughput run")
    parser.add_argument("--distinct", type=int, default=32, help="distinct request bodies per shape, sent in turn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-core", type=int, default=0, help="core the servers are pinned to (taskset)")
    parser.add_argument("--client-core", type=int, default=1, help="core this load generator is pinned to")
    parser.add_argument("--note", default="", help="free text for the report, e.g. what else ran on the machine")
    parser.add_argument("--out", type=Path, default=None, help="default: reports/rank_bench_<store>.json")
    parser.add_argument("--render", type=Path, default=None, help="only write the .md of an existing report JSON")
    args = parser.parse_args()
    if args.render is not None:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return
    out = args.out or Path(f"reports/rank_bench_{args.store}.json")
    result = run(args)
    report = {
        "command": "python -m load_tests.rank_bench " + shlex.join(sys.argv[1:]),
        "store": args.store,
        "model": {"dir": str(args.model_dir), "version": load_artifact(args.model_dir, verify=False).version},
        "setup": {
            "server": "1 uvicorn worker per server (uvloop, httptools); rank_no_cache has its own server",
            "server_core": args.server_core,
            "client_core": args.client_core,
            "client": "asyncio raw HTTP/1.1 keep-alive, closed loop",
            "seconds_per_form_and_round": args.seconds,
            "rounds": args.rounds,
            "throughput_connections": args.connections,
            "distinct_bodies": args.distinct,
            "catalogue": args.catalogue,
            "python": platform.python_version(),
        },
        "machine": {"before": result["machine_before"], "after": result["machine_after"], "note": args.note},
        "goals_1x1000": goals(result["shapes"], args.connections),
        "shapes": result["shapes"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(json.dumps(report["goals_1x1000"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
