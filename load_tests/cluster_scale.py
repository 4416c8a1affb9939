"""A table too big for one replica: a 10M+-feature model in a 3-master Redis Cluster, served through a
bounded cache, against the in-process store.

    python -m load_tests.cluster_scale --out reports/redis_cluster.json     # ~1 h, ~8 GB RAM at its peak

Opt-in, never part of ``make test``; run it with ``nice``. Steps, all in one invocation:

1. data and models (kept under ``--data-dir`` and reused when already there): the *big* model is trained by
   the streamed trainer (1 process, one epoch, K = 8) on 8M rows of synthetic Criteo-like shards whose
   categorical fields are large and flat (cardinality scale 15, Zipf exponent 0.7), so its vocabulary holds
   over 10 million features; the *small* model on 2M rows at cardinality scale 0.05 (~50k features);
2. a throw-away 3-master Redis Cluster on loopback ports (``tests/redis_servers.py``), no persistence;
3. ``ctr publish --cluster`` of both models (a child process: its wall time and peak RSS), then per master
   ``used_memory`` and ``DBSIZE``: bytes per feature and how the keys spread over the masters (and, from
   the slot map, how they would spread with more shards per version);
4. for each scenario a fresh server (``load_tests/server.py``) pinned to CPU 0 while this driver runs on
   CPU 1: small model in-process, small model from the cluster, big model from the cluster (row cache bounded
   by ``--cache-entries``), and big model in-process (the replica holding it all, for its memory);
   requests: single records of the model's own test date, drawn by ``load_tests/skewed.zipf_sample`` (users =
   ``C3`` values, exponent 1.1); a cold pass and a warm pass in closed loop (``--concurrency`` connections),
   then an open-loop run at half the warm throughput for p50/p99; the server's peak RSS and start-up time;
   every scenario in turn, ``--rounds`` times (a burst of the machine's other jobs then spoils one round);
5. the cluster is stopped (its processes, by pid) whatever happened.

Writes the JSON and a markdown table next to it. The machine is shared: compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load_tests.cluster_report import markdown
from load_tests.loadgen import open_loop
from load_tests.redis_store import machine, run
from load_tests.server import ROOT, ServerProcess
from load_tests.skewed import bodies, zipf_sample

SERVER_CPU, DRIVER_CPU = 0, 1
MODELS = {
    # name: (generator arguments, training rows); shards of 1M rows (big) / 500k (small), one date each
    "big": ({"rows": 10_000_000, "shard_rows": 1_000_000, "shards_per_day": 1, "seed": 1,
             "cardinality_scale": 15.0, "zipf_exponent": 0.7}, 8_000_000),
    "small": ({"rows": 3_000_000, "shard_rows": 500_000, "shards_per_day": 1, "seed": 1,
               "cardinality_scale": 0.05}, 2_000_000),
}  # fmt: skip
JOB = """dataset = "{root}/datasets/criteo_synthetic.toml"
data = "{data}"
out = "{out}"
name = "{name}"
[input]
buffer_rows = 131072
[training]
dim = 8
lr = 0.005
batch_size = 4096
epochs = 1
l2 = 0.01
threads = 1
sparse = true
"""


def trained_model(name: str, data_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The model's version directory (trained now unless a finished one is there) and its training summary."""
    from training.stream.synthetic import SyntheticSpec, generate

    arguments, _ = MODELS[name]
    data, models, summary_path = data_dir / name, data_dir / "models", data_dir / f"{name}.summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if Path(summary.get("artifact", "")).is_dir():
            return Path(summary["artifact"]), summary
    generate(SyntheticSpec(**arguments), data, workers=2)
    job = data_dir / f"{name}.toml"
    job.write_text(JOB.format(root=ROOT, data=data, out=models, name=f"criteo-{name}"))
    command = [sys.executable, "-m", "training.stream", "train", "--config", str(job), "--summary", str(summary_path)]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads(summary_path.read_text())
    return Path(summary["artifact"]), summary


def test_records(name: str, data_dir: Path, n: int) -> list[dict[str, Any]]:
    """``n`` single records of the model's test date, Zipf-skewed by C3 (load_tests/skewed.py)."""
    from contract.schema import load_schema
    from training.stream.batches import sample_records
    from training.stream.shards import list_shards

    schema = load_schema(ROOT / "datasets" / "criteo_synthetic.toml")
    test_shard = list_shards(schema, data_dir / name)[-1]  # the last date
    return zipf_sample(sample_records(schema, test_shard, 200_000), n, key="C3", exponent=1.1, seed=0)


def publish(artifact: Path, url: str, model: str) -> dict[str, Any]:
    """``ctr publish --cluster`` in a child process: its wall seconds and its own peak RSS."""
    report_rss = ("import resource, sys; from cli import main; code = main(sys.argv[1:]); "
                  "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
                  "sys.exit(code)")  # fmt: skip
    started = time.perf_counter()
    command = [sys.executable, "-c", report_rss, "publish", str(artifact), "--cluster", "--redis-url", url,
               "--model", model, "--quiet"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"publish failed: {result.stderr[-2000:]}")
    lines = result.stdout.strip().splitlines()
    peak = next(int(line.split()[1]) for line in lines if line.startswith("PEAK_RSS_KIB"))
    return {"seconds": round(time.perf_counter() - started, 1), "publisher_peak_rss_mb": round(peak / 1024, 1),
            "output": "\n".join(line for line in lines if not line.startswith("PEAK_RSS_KIB"))}  # fmt: skip


def shard_balance(cluster: Any, shard_counts: tuple[int, ...] = (32, 256, 1024)) -> dict[str, list[float]]:
    """Share of a version's shards (hence of its rows: a feature's shard is its hash mod S) on each master,
    for several shard counts S, from the cluster's slot map and each shard's hash tag."""
    import redis
    from redis.crc import key_slot

    client = redis.Redis(port=cluster.nodes[0].port)
    owners: dict[int, int] = {}
    for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
        port = int(master[1])
        owners.update(dict.fromkeys(range(int(start), int(end) + 1), port))
    client.close()
    ports = [node.port for node in cluster.nodes]
    out = {}
    for shards in shard_counts:
        slots = [key_slot(f"ctr:{{model:version:{s}}}:n".encode()) for s in range(shards)]
        out[str(shards)] = [round(sum(owners[x] == port for x in slots) / shards, 4) for port in ports]
    return out


def node_memory(cluster: Any) -> list[dict[str, int]]:
    import redis

    out = []
    for node in cluster.nodes:
        client = redis.Redis(port=node.port)
        out.append({"port": node.port, "used_memory": client.info("memory")["used_memory"], "keys": client.dbsize()})
        client.close()
    return out


def server_peak_rss_mb(server: ServerProcess) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def scenario(env: dict[str, str], records: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Cold and warm closed-loop passes, an open-loop run at half the warm rate, and the server's memory."""
    single = bodies(records, 1)
    server = ServerProcess(env, cpu=SERVER_CPU)
    started = time.perf_counter()
    server.start(timeout=900)  # the big model in-process takes minutes to load
    try:
        ready = time.perf_counter() - started
        cold = run(server, single, args.concurrency)
        warm = run(server, single, args.concurrency)
        rate = max(50.0, warm["requests_per_second"] / 2)
        half = asyncio.run(open_loop("127.0.0.1", server.port, "/v1/score", single, rate=rate,
                                     seconds=args.open_seconds)).to_dict()  # fmt: skip
        return {"ready_seconds": round(ready, 1), "cold": cold, "warm": warm, "half_load": half,
                "server_peak_rss_mb": round(server_peak_rss_mb(server), 1)}  # fmt: skip
    finally:
        server.stop()


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from tests.redis_servers import RedisClusterNodes

    args.data_dir.mkdir(parents=True, exist_ok=True)
    models = {name: trained_model(name, args.data_dir) for name in MODELS}
    records = {name: test_records(name, args.data_dir, args.requests) for name in MODELS}
    out: dict[str, Any] = {"models": {n: {"artifact": str(a), "features": s["features"], "test_auc": s["test"]["auc"],
                                          "training_rows": s["training_rows"], "train_seconds": s["seconds"]["train"],
                                          "peak_rss_mb": s["peak_rss_mb"]["max"]}
                                      for n, (a, s) in models.items()}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cluster = RedisClusterNodes(Path(tmp)).start()
        try:
            out["empty_nodes"] = node_memory(cluster)
            out["shard_balance"] = shard_balance(cluster)
            out["publish"] = {}
            for name, (artifact, _) in models.items():
                out["publish"][name] = publish(artifact, cluster.url, f"criteo-{name}")
                out["publish"][name]["nodes"] = node_memory(cluster)
            redis_env = {"CTR_STORE": "redis", "CTR_REDIS_URL": cluster.url, "CTR_REDIS_CLUSTER": "true",
                         "CTR_REDIS_TIMEOUT_MS": str(args.timeout_ms),
                         "CTR_REDIS_CACHE_ENTRIES": str(args.cache_entries)}  # fmt: skip
            plan = [
                ("small", "memory", {"CTR_STORE": "memory", "CTR_MODEL_DIR": str(models["small"][0])}),
                ("small", "redis cluster", {**redis_env, "CTR_REDIS_MODEL": "criteo-small"}),
                ("big", "redis cluster", {**redis_env, "CTR_REDIS_MODEL": "criteo-big"}),
                ("big", "memory", {"CTR_STORE": "memory", "CTR_MODEL_DIR": str(models["big"][0])}),
            ]
            out["scenarios"] = []
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > DRIVER_CPU:
                os.sched_setaffinity(0, {DRIVER_CPU})  # the driver; servers get CPU 0; Redis stays unpinned
            for round_ in range(1, args.rounds + 1):  # rounds: other jobs' bursts hit one round, not all
                for model, store, env in plan:
                    if store == "memory" and model == "big" and args.skip_big_in_memory:
                        continue
                    print(f"round {round_}: serving {model} from {store} ...", file=sys.stderr, flush=True)
                    result = scenario(env, records[model], args)
                    out["scenarios"].append({"round": round_, "model": model, "store": store, **result})
        finally:
            cluster.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "redis_cluster.json")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "cluster")
    parser.add_argument("--requests", type=int, default=20_000, help="single-record requests per pass")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the closed-loop passes")
    parser.add_argument("--open-seconds", type=float, default=15.0, help="length of the half-load open-loop run")
    parser.add_argument("--cache-entries", type=int, default=200_000, help="CTR_REDIS_CACHE_ENTRIES of the servers")
    parser.add_argument("--timeout-ms", type=float, default=100.0, help="CTR_REDIS_TIMEOUT_MS of the servers")
    parser.add_argument("--skip-big-in-memory", action="store_true", help="do not serve the big model in-process")
    parser.add_argument("--rounds", type=int, default=2, help="times every scenario is run, in turn")
    parser.add_argument("--render", type=Path, default=None, help="only rewrite the markdown of this JSON report")
    args = parser.parse_args(argv)
    if args.render is not None:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    report = {
        "command": "python -m load_tests.cluster_scale " + " ".join(argv if argv is not None else sys.argv[1:]),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "concurrency": args.concurrency,
            "requests": args.requests,
            "cache_entries": args.cache_entries,
            "timeout_ms": args.timeout_ms,
            "open_seconds": args.open_seconds,
            "rounds": args.rounds,
            "models": MODELS,
        },
        **benchmark(args),
        "load_average_after": list(os.getloadavg()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
