"""Benchmark: scoring with the Redis store (cold cache, warm cache, no cache) next to the in-process store.

    python -m load_tests.redis_store [--artifact models/ml100k] [--redis-url redis://127.0.0.1:6379/0]
                                     [--requests 4000] [--concurrency 16] [--batches 1 64]
                                     [--out reports/redis_store.json]

Opt-in: not part of ``make test``. Needs a trained artifact (``ctr train``) and the [train] extra, which
reads MovieLens' test split for the request bodies (real records in time order, so the cold pass
meets new users the way a live server would). Every configuration runs in the same invocation, each
against a fresh server process pinned to CPU 0 while this driver runs on CPU 1; Redis is the given
server (not pinned). "Cold" = a fresh server (empty in-process cache) over records it has not seen,
Redis already holding the version; "warm" = the same records again; "no cache" = CTR_REDIS_CACHE_ENTRIES=0.

Writes the JSON (every run, with load averages and the machine's description) and a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

from app.settings import Settings
from load_tests.loadgen import closed_loop
from load_tests.server import ROOT, ServerProcess

SERVER_CPU, DRIVER_CPU = 0, 1


def request_bodies(batch: int) -> list[bytes]:
    """Test-split records of MovieLens-100k, ``batch`` per body, in time order."""
    from contract.schema import load_schema
    from training.pipeline import prepare, raw_records

    prepared = prepare(load_schema(ROOT / "datasets/ml100k.toml"))
    records = raw_records(prepared, prepared.split.test)
    return [orjson.dumps({"records": records[i : i + batch]}) for i in range(0, len(records) - batch + 1, batch)]


def publish_version(artifact: Path, redis_url: str, model: str) -> str:
    from app.settings import Settings
    from app.stores.publish import publish
    from app.stores.redis_client import connect

    async def go() -> str:
        settings = Settings(redis_url=redis_url)
        client = connect(settings)
        try:
            return (await publish(client, settings.redis_address, artifact, model=model, progress=False)).version
        finally:
            await client.aclose()

    return asyncio.run(go())


def delete_model(redis_url: str, model: str) -> None:
    from app.settings import Settings
    from app.stores.publish import delete_version
    from app.stores.redis_client import connect
    from app.stores.redis_keys import ModelKeys

    async def go() -> None:
        client, keys = connect(Settings(redis_url=redis_url)), ModelKeys(model)
        try:
            for version in await client.zrange(keys.versions, 0, -1):
                await delete_version(client, keys, version.decode())
            await client.delete(keys.active, keys.versions)
        finally:
            await client.aclose()

    asyncio.run(go())


def run(server: ServerProcess, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """One closed-loop pass, with the server's cache and Redis counters over exactly that pass."""
    before, cpu_before = server.metrics(), server.cpu_seconds()
    result = asyncio.run(closed_loop("127.0.0.1", server.port, "/v1/score", bodies, concurrency=concurrency))
    after, cpu_after = server.metrics(), server.cpu_seconds()

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    hits, misses = delta("ctr_store_cache_hits_total"), delta("ctr_store_cache_misses_total")
    out = result.to_dict()
    out["rows_per_second"] = out["requests_per_second"] * (len(orjson.loads(bodies[0])["records"]))
    out["server_cpu_ms_per_request"] = 1e3 * (cpu_after - cpu_before) / len(bodies)
    if hits + misses:
        out["cache_hit_ratio"] = hits / (hits + misses)
        trips = delta("ctr_redis_roundtrip_duration_seconds_count")
        out["redis_round_trips"] = int(trips)
        seconds = delta("ctr_redis_roundtrip_duration_seconds_sum")
        out["redis_mean_round_trip_ms"] = 1e3 * seconds / trips if trips else None
    return out


def same_scores(a: ServerProcess, b: ServerProcess, bodies: list[bytes]) -> bool:
    import urllib.request

    def score(server: ServerProcess, body: bytes) -> list[float]:
        headers = {"content-type": "application/json"}
        request = urllib.request.Request(f"{server.url}/v1/score", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["probabilities"]

    return all(score(a, body) == score(b, body) for body in bodies)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    model = f"bench-{uuid.uuid4().hex[:8]}"
    version = publish_version(args.artifact, args.redis_url, model)
    memory_env = {"CTR_STORE": "memory", "CTR_MODEL_DIR": str(args.artifact)}
    redis_env = {"CTR_STORE": "redis", "CTR_REDIS_URL": args.redis_url, "CTR_REDIS_MODEL": model}
    if args.timeout_ms is not None:
        redis_env["CTR_REDIS_TIMEOUT_MS"] = str(args.timeout_ms)
    results: list[dict[str, Any]] = []
    parity = None
    try:
        for batch in args.batches:
            bodies = request_bodies(batch)[: args.requests]
            for concurrency in (1, args.concurrency):
                row = {"batch": batch, "concurrency": concurrency, "requests": len(bodies)}
                with ServerProcess(memory_env, cpu=SERVER_CPU) as server:
                    run(server, bodies[: min(200, len(bodies))], concurrency)  # warm-up, not recorded
                    results.append({**row, "store": "memory", "cache": "n/a", **run(server, bodies, concurrency)})
                    if parity is None:
                        with ServerProcess(redis_env, cpu=SERVER_CPU) as other:
                            parity = same_scores(server, other, bodies[:50])
                with ServerProcess(redis_env, cpu=SERVER_CPU) as server:
                    results.append({**row, "store": "redis", "cache": "cold", **run(server, bodies, concurrency)})
                    results.append({**row, "store": "redis", "cache": "warm", **run(server, bodies, concurrency)})
                with ServerProcess({**redis_env, "CTR_REDIS_CACHE_ENTRIES": "0"}, cpu=SERVER_CPU) as server:
                    results.append({**row, "store": "redis", "cache": "none", **run(server, bodies, concurrency)})
                if concurrency > 1 and args.tight_timeout_ms:
                    # the lookup deadline includes event-loop queueing: how many requests does a tight one fail?
                    tight = {**redis_env, "CTR_REDIS_TIMEOUT_MS": str(args.tight_timeout_ms)}
                    with ServerProcess(tight, cpu=SERVER_CPU) as server:
                        label = f"cold, {args.tight_timeout_ms:g} ms deadline"
                        results.append({**row, "store": "redis", "cache": label, **run(server, bodies, concurrency)})
                print(f"batch {batch}, concurrency {concurrency}: done", file=sys.stderr)
    finally:
        delete_model(args.redis_url, model)
    return {"model_version": version, "parity_first_50_bodies_identical": parity, "results": results,
            "redis_memory": redis_memory(args.artifact)}  # fmt: skip


def redis_memory(artifact: Path) -> dict[str, Any]:
    """Redis memory one published version takes, on a throw-away redis-server (the shared one is noisy)."""
    import tempfile

    import redis

    from tests.redis_servers import RedisServer

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            client = redis.Redis(port=server.port)
            before = client.info("memory")["used_memory"]
            version = publish_version(artifact, server.url, "memory-probe")
            after = client.info("memory")["used_memory"]
            sample = [k for _, k in zip(range(200), client.scan_iter(match="ctr:{*:e:*", count=1000), strict=False)]
            per_key = [client.memory_usage(k) for k in sample]
            features = int(json.loads(client.get(f"ctr:{{memory-probe:{version}}}:manifest"))["features"])
            client.close()
        finally:
            server.stop()
    return {
        "features": features,
        "used_memory_delta_bytes": after - before,
        "bytes_per_feature_including_metadata": (after - before) / features,
        "memory_usage_per_feature_key_bytes_mean": sum(per_key) / len(per_key),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Redis store vs in-process store",
        "",
        f"Written by `{report['command']}` on {report['created_at']} (model version {report['model_version']}).",
        f"Machine: {report['machine']['cpus']} CPUs, **shared** with other jobs "
        f"(load average {report['machine']['load_average'][0]:.1f} before, {report['load_average_after'][0]:.1f} "
        f"after); server pinned to CPU {SERVER_CPU}, driver to CPU {DRIVER_CPU}, Redis unpinned.",
        f"Scores identical between the stores on the first 50 bodies: {report['parity_first_50_bodies_identical']}.",
        f"Redis lookup deadline: {report['redis_timeout_ms']} ms unless the cache column says otherwise.",
        f"Redis memory of the version ({report['redis_memory']['features']} features): "
        f"{report['redis_memory']['used_memory_delta_bytes'] / 2**20:.2f} MiB, "
        f"{report['redis_memory']['bytes_per_feature_including_metadata']:.0f} B per feature including metadata "
        f"(MEMORY USAGE of one row key: {report['redis_memory']['memory_usage_per_feature_key_bytes_mean']:.0f} B).",
        "",
        "| batch | conns | store | cache | req/s | rows/s | p50 ms | p99 ms | server CPU ms/req | non-200 | cache hits "
        "| Redis trips |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        hit = f"{r['cache_hit_ratio']:.1%}" if "cache_hit_ratio" in r else "-"
        trips = r.get("redis_round_trips", "-")
        failed = r["requests"] - r["statuses"].get("200", 0)
        lines.append(f"| {r['batch']} | {r['concurrency']} | {r['store']} | {r['cache']} | "
                     f"{r['requests_per_second']:,.0f} | {r['rows_per_second']:,.0f} | {r['latency_ms']['p50']:.2f} | "
                     f"{r['latency_ms']['p99']:.2f} | {r['server_cpu_ms_per_request']:.2f} | {failed} | {hit} | "
                     f"{trips} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=ROOT / "models/ml100k", help="model or version directory")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=4000, help="bodies per pass (distinct, in time order)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the throughput runs")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="records per request")
    parser.add_argument("--timeout-ms", type=float, default=None, help="CTR_REDIS_TIMEOUT_MS (default: the server's)")
    parser.add_argument("--tight-timeout-ms", type=float, default=5.0, help="extra cold run with this deadline")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/redis_store.json")
    args = parser.parse_args(argv)
    if not args.artifact.exists():
        print(f"no artifact at {args.artifact}: train one with `ctr train --out models`", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > DRIVER_CPU:
        os.sched_setaffinity(0, {DRIVER_CPU})
    started = machine()
    report = {
        "command": "python -m load_tests.redis_store " + " ".join(argv if argv is not None else sys.argv[1:]),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            **started,
            "shared": True,
            "note": "other engineers' jobs ran on the same 2 cores during the run; compare rows of one run, "
            "not absolute figures across runs",
        },
        "driver": "load_tests/loadgen.py closed loop (raw asyncio HTTP/1.1, keep-alive), one pass per row",
        "server": "uvicorn app.main:create_app (uvloop, httptools, 1 worker), CTR_LOG_LEVEL=warning",
        "redis": args.redis_url.split("@")[-1],
        "redis_timeout_ms": args.timeout_ms or Settings.model_fields["redis_timeout_ms"].default,
        **benchmark(args),
    }
    report["load_average_after"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
