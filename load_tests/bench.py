"""The scripted serving benchmark (issue 6): our server against its baselines, in one run.

    python -m load_tests.bench --artifact models/ml100k --out reports/serving_bench.json
    python -m load_tests.bench --quick --out /tmp/bench.json          # ~1.5 min smoke run
    python -m load_tests.bench --quick --only ours_single floor_single  # a subset (names as in the report)
    python -m load_tests.bench --render reports/serving_bench.json     # redraw .md/.png from the JSON

Opt-in, never part of ``make test``. Needs a trained artifact (``ctr train``), the [train] extra
(MovieLens' test split for the requests, torch for the naive baseline, matplotlib for the plot),
Redis at ``--redis-url`` and ``wrk`` (``load_tests/setup.sh`` installs it with apt-get if missing).

Method (decisions #22-23):

* every scenario gets a fresh server process (``uvicorn --factory``, uvloop, httptools, no access
  log) pinned with ``taskset`` to CPU 0; this process, its open-loop driver and ``wrk`` run pinned
  to CPU 1. With 2 uvicorn workers the server is pinned to CPUs 0,1, so it shares CPU 1 with the
  load generator: that scenario says so and is not comparable per core;
* throughput: ``wrk`` closed loop (1 thread, ``--connections`` connections, ``--wrk-seconds``) with
  ``wrk_post.lua`` POSTing request bodies in rotation; req/s, rows/s, non-2xx and socket errors,
  and the server's CPU time per request (from /proc: steadier than req/s on a shared machine).
  The scenarios the goal ratios compare (INTERLEAVED) are measured again afterwards in ``--rounds``
  interleaved wrk rounds on fresh servers that are all up at once, and the ratios use the medians;
* latency at a given load: ``loadgen.open_loop`` (bounded: at most 64 requests in flight, excess
  counted as dropped) at fixed rates = ``--fractions`` x that scenario's wrk maximum measured just
  before, ``--sweep-seconds`` each: p50/p95/p99/max and errors. "Half load" = fraction 0.5;
* requests: real MovieLens-100k test-split records, Zipf-skewed by user (``load_tests/skewed.py``);
* scenarios: /v1/score with 1, 16 and 256 records per body (records and columns forms), in-process
  store; Redis store warm and cold (artifact published under a unique model name, deleted
  afterwards; "cold" = fresh server, empty in-process row cache, Redis warm, measured only by one
  open-loop run at half of the warm maximum, since any wrk run would warm it); 1 and 2 workers;
  micro-batcher off/on at several concurrencies (CTR_MICROBATCH_*; recorded whether this server's
  settings know those variables); baselines: the floor (``load_tests/baselines/floor_app.py``),
  onnxruntime ``run()`` alone in a tight loop (in-process, pinned to CPU 0), and naive PyTorch
  (``load_tests/baselines/naive_torch.py``);
* goals and ratios are computed from the measured numbers (``load_tests/bench_report.py``);
  the floor and ours must answer a set of bad bodies identically, and the baselines' and other
  configurations' probabilities are compared with ours on the same bodies (report: Checks).

A default run takes ~7 minutes (14 scenarios x ~25 s, interleaved rounds ~1 min).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from contract.artifact import resolve_artifact, set_active
from contract.registry import set_shadow
from load_tests import bench_report
from load_tests.loadgen import closed_loop, open_loop
from load_tests.server import ServerProcess
from load_tests.skewed import bodies, movielens_test_records, zipf_sample
from load_tests.wrk import run_wrk, write_bodies

SERVER_CPU, DRIVER_CPU = 0, 1
FLOOR_APP = "load_tests.baselines.floor_app:create_app"
NAIVE_APP = "load_tests.baselines.naive_torch:create_app"
MICROBATCH_ENV = {"CTR_MICROBATCH_MAX_ROWS": "64", "CTR_MICROBATCH_MAX_DELAY_US": "200"}
BODIES_PER_BATCH = {1: 2000, 16: 256, 256: 64}
MAX_IN_FLIGHT = 64
AUTH_KEYS = 10  # keys in auth_on_single's keys file
AUTH_PUBLIC = "/healthz,/readyz,/metrics"  # the benchmark reads /metrics without a key
# The scenarios the goal ratios compare: measured again in interleaved wrk rounds (bench_report docstring).
INTERLEAVED = ("ours_single", "floor_single", "naive_torch_single", "redis_warm_single")
# Sent to ours and to the floor after the timed runs: both must answer each with the same status and body.
BAD_BODIES = [
    b'{"records": [{"item_id": 242}]}',  # required user_id missing
    b'{"records": [{"user_id": 196, "item_id": 242, "colour": "red"}]}',  # unknown field
    b'{"records": [{"user_id": "abc", "item_id": 242}]}',  # not an integer id
    b'{"records": [{"user_id": 196, "item_id": 242, "age": "old"}]}',  # not a number
    b'{"records": []}',
    b'{"columns": {"user_id": [1, 2], "item_id": [3]}}',
    b"not json",
]


@dataclass
class Scenario:
    """One server configuration and what to measure against it."""

    name: str
    description: str
    server: str  # ours | floor | naive_torch
    batch: int = 1
    form: str = "records"
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    cold: bool = False  # no warm-up and no wrk: only the open-loop run at half load, on a fresh server
    concurrencies: tuple[int, ...] = ()  # extra wrk runs at these connection counts
    rate_from: str | None = None  # take the sweep's rates from this scenario's wrk maximum
    tree: Path | None = None  # serve this checkout of the code instead of the working tree (--baseline-tree)
    multiprocess_metrics: bool = False  # prometheus_client multiprocess mode (a fresh PROMETHEUS_MULTIPROC_DIR)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (an API key); never reported


@dataclass
class Settings:
    artifact: Path
    redis_url: str
    wrk_seconds: float
    sweep_seconds: float
    fractions: tuple[float, ...]
    connections: int
    microbatch_concurrencies: tuple[int, ...]
    ort_seconds: float
    seed: int
    exponent: float
    rounds: int = 3
    only: tuple[str, ...] = ()
    baseline_tree: Path | None = None
    interleave: tuple[str, ...] = ()  # default: INTERLEAVED


def scenarios(s: Settings, redis_model: str) -> list[Scenario]:
    memory = {"CTR_STORE": "memory", "CTR_MODEL_DIR": str(s.artifact)}
    redis = {"CTR_STORE": "redis", "CTR_REDIS_URL": s.redis_url, "CTR_REDIS_MODEL": redis_model}
    scratch = Path(tempfile.mkdtemp(prefix="ctr-bench-"))  # the log's files and the shadow's model directory
    logging_env = {"CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(scratch / "logs")}
    shadow_env = {**memory, "CTR_MODEL_DIR": str(shadowed_copy(s.artifact, scratch / "models"))}
    auth_keys, auth_headers = keys_file(scratch / "keys.toml")
    out = [
        Scenario("ours_single", "ours, 1 record per body, in-process store.", "ours", env=memory),
        Scenario("floor_single", "floor baseline (parse + validate, constant answer), 1 record.", "floor", env=memory),
        Scenario("naive_torch_single", "naive FastAPI + PyTorch baseline, 1 record.", "naive_torch", env=memory),
        Scenario("ours_b16_records", "ours, 16 records per body.", "ours", 16, "records", memory),
        Scenario("ours_b16_columns", "ours, 16 rows per body, columns form.", "ours", 16, "columns", memory),
        Scenario("ours_b256_records", "ours, 256 records per body.", "ours", 256, "records", memory),
        Scenario("ours_b256_columns", "ours, 256 rows per body, columns form.", "ours", 256, "columns", memory),
        Scenario("floor_b256_columns", "floor baseline, 256 rows, columns form.", "floor", 256, "columns", memory),
        Scenario("naive_torch_b256", "naive PyTorch baseline, 256 records per body.", "naive_torch", 256, env=memory),
        Scenario("redis_warm_single", "ours, Redis store, row cache warmed by one pass over the bodies first.",
                 "ours", env=redis),
        Scenario("redis_cold_single", "ours, Redis store, fresh server (empty row cache, Redis warm), no warm-up: "
                 "only an open-loop run at half of redis_warm_single's wrk maximum (no wrk run: it would be warm).",
                 "ours", env=redis, cold=True, rate_from="redis_warm_single"),
        Scenario("ours_single_2workers", "ours, 2 uvicorn workers, server pinned to CPUs 0,1 (shared with the load "
                 "generator on CPU 1).", "ours", env=memory, workers=2),
        Scenario("microbatch_off_single", "ours, micro-batcher off (default env), 1 record, several concurrencies; "
                 "the same configuration as ours_single, so their difference is this run's noise.",
                 "ours", env=memory, concurrencies=s.microbatch_concurrencies),
        Scenario("microbatch_on_single", "ours with " + " ".join(f"{k}={v}" for k, v in MICROBATCH_ENV.items())
                 + ", 1 record, several concurrencies.", "ours", env={**memory, **MICROBATCH_ENV},
                 concurrencies=s.microbatch_concurrencies),
        # -- observability (issue 18): per-row metrics and multiprocess metrics, on/off ------------------
        Scenario("served_metrics_on_single", "ours with CTR_SERVED_METRICS=true (served-probability histogram "
                 "and OOV counts; off by default), 1 record.", "ours", env={**memory, "CTR_SERVED_METRICS": "true"}),
        Scenario("served_metrics_on_b256_columns", "ours with CTR_SERVED_METRICS=true, 256 rows, columns form.",
                 "ours", 256, "columns", {**memory, "CTR_SERVED_METRICS": "true"}),
        Scenario("multiprocess_metrics_single", "ours, 1 worker in prometheus_client multiprocess mode "
                 "(PROMETHEUS_MULTIPROC_DIR set, as every worker of CTR_WORKERS > 1 runs), 1 record.", "ours",
                 env=memory, multiprocess_metrics=True),
        # -- the feedback loop (issue 19): the impression log and shadow scoring, on/off ----------------
        Scenario("impression_log_single", "ours with CTR_IMPRESSION_LOG=file (every row logged), 1 record.",
                 "ours", env={**memory, **logging_env}),
        Scenario("impression_log_b256_columns", "ours with CTR_IMPRESSION_LOG=file, 256 rows, columns form.",
                 "ours", 256, "columns", {**memory, **logging_env}),
        Scenario("shadow_single", "ours with a shadow version (CTR_SHADOW_FRACTION=0.1, the default), 1 record.",
                 "ours", env=shadow_env),
        Scenario("shadow_all_single", "ours with a shadow version scoring every request (CTR_SHADOW_FRACTION=1).",
                 "ours", env={**shadow_env, "CTR_SHADOW_FRACTION": "1.0"}),
        # -- reliability and security (issue 20): API keys on/off ----------------------------------------
        Scenario("auth_on_single", f"ours with authentication on (CTR_API_KEYS_FILE of {AUTH_KEYS} keys, every "
                 "request with `Authorization: Bearer <key>`: SHA-256 + a constant-time compare with each digest), "
                 "1 record; /metrics public for the benchmark's own reads.", "ours", headers=auth_headers,
                 env={**memory, "CTR_API_KEYS_FILE": str(auth_keys), "CTR_AUTH_PUBLIC_PATHS": AUTH_PUBLIC}),
    ]  # fmt: skip
    if s.baseline_tree is not None:
        before = f"the code at {s.baseline_tree} (--baseline-tree)"
        out += [Scenario("before_single", f"{before}, 1 record, in-process store.", "ours", env=memory,
                         tree=s.baseline_tree),
                Scenario("before_b256_columns", f"{before}, 256 rows, columns form.", "ours", 256, "columns", memory,
                         tree=s.baseline_tree)]  # fmt: skip
    return [sc for sc in out if not s.only or sc.name in s.only]


def shadowed_copy(artifact: Path, root: Path) -> Path:
    """A model directory serving the artifact's version, with the same version as its shadow (SHADOW):
    a second model scoring after each answer costs what any shadow version of this size costs."""
    version = resolve_artifact(artifact)
    model_dir = root / version.parent.name
    shutil.copytree(version, model_dir / version.name)
    set_active(model_dir, version.name, by="bench")
    set_shadow(model_dir, version.name)
    return model_dir


def keys_file(path: Path) -> tuple[Path, dict[str, str]]:
    """A keys file of AUTH_KEYS score keys, and the header presenting the last one (every digest is compared
    whichever matches, so the cost does not depend on which). The keys exist only for this run."""
    from app.security import keys as k

    minted = [k.new_key() for _ in range(AUTH_KEYS)]
    k.write_keys(path, [k.ApiKey(f"bench-{i}", k.digest(key), frozenset({"score"}), k.now())
                        for i, key in enumerate(minted)])  # fmt: skip
    return path, {"Authorization": f"Bearer {minted[-1]}"}


# -- driving ------------------------------------------------------------------------------------
def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run the driver on uvloop when installed (less client CPU per request), else asyncio."""
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:
        return asyncio.run(coro)


def start_server(sc: Scenario) -> ServerProcess:
    app = {"ours": "app.main:create_app", "floor": FLOOR_APP, "naive_torch": NAIVE_APP}[sc.server]
    cpus = ",".join(str(c) for c in range(min(sc.workers, os.cpu_count() or 1))) if sc.workers > 1 else None
    env = dict(sc.env)
    metrics_dir = Path(tempfile.mkdtemp(prefix="bench-metrics-")) if sc.multiprocess_metrics else None
    if metrics_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    server = ServerProcess(env, cpu=SERVER_CPU, workers=sc.workers, app=app, cpus=cpus, tree=sc.tree)
    server.owned_dirs = [metrics_dir] if metrics_dir is not None else []
    return server.start(timeout=120)


def wrk_run(server: ServerProcess, bodies_file: Path, batch: int, connections: int, seconds: float,
            headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    cpu_before = server.cpu_seconds() if server.workers == 1 else None
    result = run_wrk(f"{server.url}/v1/score", bodies_file, connections=connections, seconds=seconds, cpu=DRIVER_CPU,
                     headers=headers)  # fmt: skip
    out = result.to_dict()
    out["command"] = shlex.join(result.command)
    out["rows_per_second"] = result.requests_per_second * batch
    if cpu_before is not None and result.requests:
        out["server_cpu_ms_per_request"] = 1e3 * (server.cpu_seconds() - cpu_before) / result.requests
    return out


def open_loop_point(server: ServerProcess, payloads: Sequence[bytes], rate: float, seconds: float,
                    headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One fixed-rate run; errors = answers other than 200 + connection errors + dropped requests."""
    result = run_async(open_loop("127.0.0.1", server.port, "/v1/score", payloads, rate=rate, seconds=seconds,
                                 max_in_flight=MAX_IN_FLIGHT, headers=headers))  # fmt: skip
    out = result.to_dict()
    non_ok = sum(n for status, n in result.statuses.items() if status != "200")
    out["non_2xx"] = non_ok
    out["errors"] = non_ok + result.dropped
    out["scheduled"] = int(rate * seconds)
    return out


def metrics_delta(server: ServerProcess, before: dict[str, float]) -> dict[str, Any]:
    after = server.metrics()
    hits = after.get("ctr_store_cache_hits_total", 0.0) - before.get("ctr_store_cache_hits_total", 0.0)
    misses = after.get("ctr_store_cache_misses_total", 0.0) - before.get("ctr_store_cache_misses_total", 0.0)
    return {"cache_hits": hits, "cache_misses": misses,
            "cache_hit_ratio": hits / (hits + misses) if hits + misses else None}  # fmt: skip


def post_json(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON answer, or its text when it is not JSON)."""
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def measure(sc: Scenario, s: Settings, files: dict[tuple[int, str], Path], payloads: dict[tuple[int, str], list[bytes]],
            results: dict[str, dict[str, Any]], check_bodies: list[bytes]) -> dict[str, Any]:  # fmt: skip
    key = (sc.batch, sc.form)
    out: dict[str, Any] = {"description": sc.description, "server": sc.server, "batch": sc.batch, "form": sc.form,
                           "workers": sc.workers, "env": {k: v for k, v in sc.env.items()},
                           "server_pinning": "CPUs 0,1" if sc.workers > 1 else f"CPU {SERVER_CPU}",
                           "load_average_1min_at_start": os.getloadavg()[0]}  # fmt: skip
    server = start_server(sc)
    try:
        out["server_command"] = shlex.join(server.command())
        ours = sc.server == "ours"
        before = server.metrics() if ours else {}
        if sc.cold:
            base = throughput_of(results, sc.rate_from) or throughput_of(results, "ours_single")
            if base:
                point = open_loop_point(server, payloads[key], bench_report.HALF_LOAD * base, s.sweep_seconds,
                                        sc.headers)  # fmt: skip
                out["sweep"] = [{"fraction": bench_report.HALF_LOAD, "rate_basis": sc.rate_from, **point,
                                 **metrics_delta(server, before)}]  # fmt: skip
        else:
            # warm-up, not recorded: each distinct body once (row caches, lazy paths, allocator)
            run_async(closed_loop("127.0.0.1", server.port, "/v1/score", payloads[key][:2000], concurrency=8,
                                  headers=sc.headers))  # fmt: skip
            before = server.metrics() if ours else {}
            out["wrk"] = wrk_run(server, files[key], sc.batch, s.connections, s.wrk_seconds, sc.headers)
            if ours and sc.env.get("CTR_STORE") == "redis":
                out["wrk"].update(metrics_delta(server, before))
        out["concurrency_sweep"] = [wrk_run(server, files[key], sc.batch, c, s.wrk_seconds, sc.headers)
                                    for c in sc.concurrencies]  # fmt: skip
        if not sc.cold:
            basis = out["wrk"]["requests_per_second"]
            out["sweep"] = [{"fraction": f, **open_loop_point(server, payloads[key], f * basis, s.sweep_seconds,
                                                              sc.headers)} for f in s.fractions]  # fmt: skip
        if sc.batch == 1 and sc.form == "records":
            out["check_responses"] = [post_json(f"{server.url}/v1/score", body, sc.headers) for body in check_bodies]
            if sc.server in ("ours", "floor"):
                out["check_bad_bodies"] = [post_json(f"{server.url}/v1/score", b, sc.headers) for b in BAD_BODIES]
    finally:
        server.stop()
    return out


Runs = list[dict[str, Any]]


def interleave(plan: Sequence[Scenario], s: Settings, files: dict[tuple[int, str], Path],
               payloads: dict[tuple[int, str], list[bytes]], results: dict[str, dict[str, Any]],
               ) -> dict[str, dict[str, Runs]]:  # fmt: skip
    """wrk rounds, then half-load open-loop rounds, over the INTERLEAVED scenarios in turn.

    One fresh server per scenario, all up at once, pinned to CPU 0; only the one being measured has
    work (the others idle), and the order rotates each round, so a drift in the machine's background
    load spreads over every scenario instead of favouring one. The half-load rate of a scenario is
    half the median of its wrk rounds.
    """
    names = s.interleave or INTERLEAVED
    chosen = [sc for sc in plan if sc.name in names and not results.get(sc.name, {}).get("failed")]
    if s.rounds < 1 or len(chosen) < 2:
        return {}
    servers: dict[str, ServerProcess] = {}
    out: dict[str, dict[str, Runs]] = {sc.name: {"wrk": [], "half_load": []} for sc in chosen}

    def rotated(r: int) -> list[Scenario]:
        return chosen[r % len(chosen) :] + chosen[: r % len(chosen)]

    try:
        for sc in chosen:
            servers[sc.name] = server = start_server(sc)
            bodies_ = payloads[sc.batch, sc.form]
            run_async(closed_loop("127.0.0.1", server.port, "/v1/score", bodies_[:2000], concurrency=8,
                                  headers=sc.headers))  # fmt: skip
        for r in range(s.rounds):
            for sc in rotated(r):
                run = wrk_run(servers[sc.name], files[sc.batch, sc.form], sc.batch, s.connections, s.wrk_seconds,
                              sc.headers)  # fmt: skip
                out[sc.name]["wrk"].append({"round": r, **run})
        for r in range(s.rounds):
            for sc in rotated(r):
                rate = bench_report.HALF_LOAD * statistics.median(w["requests_per_second"] for w in out[sc.name]["wrk"])
                point = open_loop_point(servers[sc.name], payloads[sc.batch, sc.form], rate, s.sweep_seconds,
                                        sc.headers)  # fmt: skip
                out[sc.name]["half_load"].append({"round": r, "fraction": bench_report.HALF_LOAD, **point})
    finally:
        for server in servers.values():
            server.stop()
    return out


def failed(sc: Scenario, reason: str) -> dict[str, Any]:
    """A scenario's entry when it could not be measured (the report renders it without numbers)."""
    return {"description": sc.description, "server": sc.server, "batch": sc.batch, "form": sc.form,
            "workers": sc.workers, "env": sc.env, "server_command": "", "failed": reason}  # fmt: skip


def progress(result: dict[str, Any]) -> str:
    """One line per scenario on stderr while the run goes on."""
    if "failed" in result:
        return f"FAILED {result['failed']}"
    parts = []
    if result.get("wrk"):
        parts.append(f"{result['wrk']['requests_per_second']:,.0f} req/s (wrk)")
    half = bench_report.sweep_point({"r": result}, "r", bench_report.HALF_LOAD)
    if half:
        parts.append(f"p99 {half['latency_ms'].get('p99', float('nan')):.2f} ms at half load")
    return ", ".join(parts) + f", {bench_report.scenario_errors(result)} errors"


def throughput_of(results: dict[str, dict[str, Any]], name: str | None) -> float | None:
    return bench_report.throughput(results, name) if name else None


# -- onnxruntime alone ----------------------------------------------------------------------------
def onnxruntime_alone(artifact_path: Path, records: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """``session.run()`` on pre-gathered rows in a tight loop, pinned to the server's CPU, batch 1/16/256.

    The session is built with the server's options (app.scoring.model.ScoringModel: 1 intra-op thread,
    sequential, all graph optimisations); inputs are real encoded test records.
    """
    from app.scoring.model import ScoringModel
    from app.settings import Settings as ServerSettings

    model = ScoringModel.load(ServerSettings(model_dir=artifact_path))
    table = model.store.table  # type: ignore[attr-defined]  # the in-process store keeps the fused table
    out = []
    with pinned({SERVER_CPU}):
        for batch in (1, 16, 256):
            encoded = model.encoder.encode_records(records[:batch])
            rows, values = table[encoded.ids], encoded.values
            feed = {"rows": rows, "values": values}
            for _ in range(200):  # warm-up
                model.session.run(None, feed)
            calls, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                for _ in range(100):
                    model.session.run(None, feed)
                calls += 100
            out.append({"batch": batch, "calls": calls, "seconds": elapsed, "calls_per_second": calls / elapsed,
                        "rows_per_second": calls * batch / elapsed, "us_per_call": 1e6 * elapsed / calls})  # fmt: skip
    return out


@contextlib.contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus & set(range(os.cpu_count() or 1)) or previous)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


# -- checks ----------------------------------------------------------------------------------------
def checks(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Do the baselines answer what ours answers? (Probabilities of the same bodies.)"""

    def probabilities(name: str) -> np.ndarray | None:
        responses = (results.get(name) or {}).get("check_responses")
        if not responses or any(status != 200 for status, _ in responses):
            return None
        return np.concatenate([np.asarray(body["probabilities"], np.float64) for _, body in responses])

    out: dict[str, Any] = {}
    ours_bad, floor_bad = (results.get(n, {}).get("check_bad_bodies") for n in ("ours_single", "floor_single"))
    if ours_bad and floor_bad:
        same = sum(a == b for a, b in zip(ours_bad, floor_bad, strict=True))
        out["bad bodies answered identically by ours and the floor"] = f"{same} of {len(BAD_BODIES)}"
        out["statuses ours gave the bad bodies"] = [status for status, _ in ours_bad]
    ours = probabilities("ours_single")
    for other in (
        "naive_torch_single",
        "redis_warm_single",
        "ours_single_2workers",
        "microbatch_on_single",
        "auth_on_single",
    ):
        theirs = probabilities(other)
        if ours is not None and theirs is not None and theirs.shape == ours.shape:
            out[f"max |p(ours_single) - p({other})| over the check bodies"] = float(np.abs(ours - theirs).max())
    return out


# -- machine ---------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("fastapi", "uvicorn", "onnxruntime", "orjson", "numpy", "torch"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    wrk_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5).stdout.split(
            "\n"
        )[0]
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions, "wrk": wrk_version.strip(),
            "load_average_before": list(os.getloadavg()),
            "note": "The machine may be shared with other jobs: compare rows of one run, not runs."}  # fmt: skip


# -- the run ---------------------------------------------------------------------------------------
def prepare_requests(s: Settings, workdir: Path) -> tuple[dict[tuple[int, str], list[bytes]], dict, list, list]:
    pool = movielens_test_records()
    needed = max(BODIES_PER_BATCH[b] * b for b in BODIES_PER_BATCH)
    sample = zipf_sample(pool, needed, exponent=s.exponent, seed=s.seed)
    payloads, files = {}, {}
    for batch, count in BODIES_PER_BATCH.items():
        for form in ("records", "columns"):
            payloads[(batch, form)] = bodies(sample[: count * batch], batch, form)  # type: ignore[arg-type]
            files[(batch, form)] = write_bodies(payloads[(batch, form)], workdir / f"bodies_{batch}_{form}.jsonl")
    return payloads, files, pool, sample


def run(s: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    from contract.artifact import load_artifact
    from load_tests.redis_store import delete_model, publish_version

    artifact = load_artifact(s.artifact)
    info = machine_info()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp, pinned({DRIVER_CPU}):
        payloads, files, pool, sample = prepare_requests(s, Path(tmp))
        check_bodies = [*payloads[1, "records"][:20], orjson.dumps({"records": sample[:256]})]
        users = {r["user_id"] for r in sample}
        log(f"requests: {len(sample)} sampled records of {len(pool)} test-split records, {len(users)} users")
        redis_model = f"bench-{uuid.uuid4().hex[:10]}"
        plan = scenarios(s, redis_model)
        needs_redis = any(sc.env.get("CTR_STORE") == "redis" for sc in plan)
        redis_version = None
        if needs_redis:
            try:
                redis_version = publish_version(s.artifact, s.redis_url, redis_model)
            except Exception as exc:  # no Redis: measure everything else, say why the Redis rows are missing
                log(f"publishing to {s.redis_url} FAILED ({type(exc).__name__}: {exc}); skipping the Redis scenarios")
                skipped = [sc for sc in plan if sc.env.get("CTR_STORE") == "redis"]
                plan = [sc for sc in plan if sc not in skipped]
                for sc in skipped:
                    results[sc.name] = failed(sc, f"publishing to Redis failed: {type(exc).__name__}: {exc}")
                needs_redis = False
        try:
            for i, sc in enumerate(plan, 1):
                started = time.monotonic()
                try:
                    results[sc.name] = measure(sc, s, files, payloads, results, check_bodies)
                except Exception as exc:  # one broken scenario must not lose the others' numbers
                    results[sc.name] = failed(sc, f"{type(exc).__name__}: {exc}")
                log(f"[{i}/{len(plan)}] {sc.name}: {progress(results[sc.name])} ({time.monotonic() - started:.0f} s)")
            try:
                for name, runs in interleave(plan, s, files, payloads, results).items():
                    results[name]["interleaved"] = runs["wrk"]
                    results[name]["interleaved_half_load"] = runs["half_load"]
                    rates = ", ".join(f"{r['requests_per_second']:,.0f}" for r in runs["wrk"])
                    p99s = ", ".join(f"{p['latency_ms'].get('p99', float('nan')):.2f}" for p in runs["half_load"])
                    log(f"interleaved {name}: {rates} req/s; p99 at half load {p99s} ms")
            except Exception as exc:  # keep the scenarios' own numbers
                log(f"interleaved rounds FAILED: {type(exc).__name__}: {exc}")
        finally:
            if needs_redis:
                delete_model(s.redis_url, redis_model)
        ort = onnxruntime_alone(s.artifact, sample, s.ort_seconds) if s.ort_seconds > 0 else []
    info["load_average_after"] = list(os.getloadavg())
    from app.settings import Settings as ServerSettings

    microbatch_known = any(name.startswith("microbatch") for name in ServerSettings.model_fields)
    check = checks(results)
    for r in results.values():
        r.pop("check_responses", None)
        r.pop("check_bad_bodies", None)
    report = {
        "model": {"name": artifact.name, "version": artifact.version, "path": str(s.artifact)},
        "machine": info,
        "pinning": f"server (uvicorn, every worker) pinned with `taskset -c {SERVER_CPU}`; this driver process "
        f"(open-loop asyncio client) and wrk pinned to CPU {DRIVER_CPU} (sched_setaffinity / `taskset -c "
        f"{DRIVER_CPU}`); the 2-worker scenario's server is pinned to CPUs 0,1 and shares CPU {DRIVER_CPU} with the "
        "load generator; Redis is not pinned; onnxruntime alone runs in this process pinned to CPU 0.",
        "method": {
            "throughput": f"wrk 1 thread, {s.connections} connections, {s.wrk_seconds:g} s per run, Lua script "
            "load_tests/wrk_post.lua POSTing the scenario's bodies in rotation; errors = non-2xx + socket errors. "
            f"The goals use the median of {s.rounds} interleaved rounds over {', '.join(s.interleave or INTERLEAVED)} "
            "(fresh servers, all up at once, measured in turn; wrk rounds, then open-loop rounds at half the "
            "median wrk maximum) when made, else each scenario's own runs.",
            "latency": f"load_tests/loadgen.py open_loop at fractions {list(s.fractions)} of the scenario's own wrk "
            f"maximum (measured just before, same server), {s.sweep_seconds:g} s each, at most {MAX_IN_FLIGHT} in "
            "flight (excess dropped and counted as errors); latency from each request's scheduled send time.",
            "requests": f"MovieLens-100k test split ({len(pool)} records); {len(sample)} records drawn with users "
            f"ranked by test-split frequency and drawn with probability ∝ 1/rank^{s.exponent:g}, then a uniform "
            f"record of that user (load_tests/skewed.py, seed {s.seed}); {len(users)} distinct users drawn; "
            f"bodies per batch size {BODIES_PER_BATCH}; the same records in the records and columns forms.",
            "microbatch": f"env {MICROBATCH_ENV} on microbatch_on_single; this server's settings "
            + ("define" if microbatch_known else "do NOT define")
            + " CTR_MICROBATCH_* (pydantic-settings ignores unknown variables, so without them 'on' measures 'off').",
        },
        "microbatch_env_recognised": microbatch_known,
        "redis": {
            "url": s.redis_url.split("@")[-1],
            "model": redis_model,
            "version": redis_version,
            "deleted_afterwards": needs_redis,
        },
        "results": results,
        "onnxruntime_alone": ort,
        "checks": check,
    }
    report["goals"] = bench_report.compute_goals(results)
    report["ratios"] = bench_report.extra_ratios(results)
    return report


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    return Settings(
        artifact=args.artifact.resolve(), redis_url=args.redis_url,
        wrk_seconds=args.wrk_seconds or (1.0 if quick else 5.0),
        sweep_seconds=args.sweep_seconds or (1.0 if quick else 3.0),
        fractions=tuple(args.fractions or ((0.5,) if quick else (0.1, 0.25, 0.5, 0.75, 0.9))),
        connections=args.connections,
        microbatch_concurrencies=tuple(args.microbatch_concurrencies or ((1, 16) if quick else (1, 4, 16, 64))),
        ort_seconds=0.3 if quick else 1.5, seed=args.seed, exponent=args.zipf_exponent, only=tuple(args.only or ()),
        rounds=args.rounds if args.rounds is not None else (1 if quick else 3),
        baseline_tree=args.baseline_tree, interleave=tuple(args.interleave or ()),
    )  # fmt: skip


def write_outputs(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    report["json_name"] = out.name
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(bench_report.markdown(report))
    if bench_report.plot(report, out.with_suffix(".png")) is None:
        print("matplotlib not installed: no plot", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("models/ml100k"), help="model or version directory")
    parser.add_argument("--out", type=Path, default=Path("reports/serving_bench.json"), help=".md and .png beside it")
    parser.add_argument("--quick", action="store_true", help="short smoke run (1 s per run, one load fraction)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--wrk-seconds", type=float, help="duration of each wrk run (default 5, quick 1)")
    parser.add_argument("--sweep-seconds", type=float, help="duration of each open-loop point (default 3, quick 1)")
    parser.add_argument("--fractions", type=float, nargs="+", help="offered load / wrk maximum (must include 0.5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections of the throughput runs")
    parser.add_argument("--microbatch-concurrencies", type=int, nargs="+", help="wrk connections, micro-batch runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Zipf request sampler")
    parser.add_argument("--zipf-exponent", type=float, default=1.1)
    parser.add_argument("--rounds", type=int, help="interleaved wrk rounds of the ratio scenarios (default 3, quick 1)")
    parser.add_argument("--only", nargs="+", help="run only these scenarios (names as in the report)")
    parser.add_argument("--render", type=Path, help="only redraw .md/.png from this JSON (no measuring)")
    parser.add_argument("--baseline-tree", type=Path, help="also serve this checkout (e.g. `git archive <commit>` "
                        "extracted) as before_single / before_b256_columns")  # fmt: skip
    parser.add_argument("--interleave", nargs="+", help=f"scenarios of the interleaved rounds (default {INTERLEAVED})")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        write_outputs(report, args.render)
        return 0
    if not args.artifact.exists():
        print(f"no artifact at {args.artifact}: train one with `ctr train`", file=sys.stderr)
        return 2
    s = settings_from(args)
    started = time.monotonic()
    report = {"command": "python -m load_tests.bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip
    report.update(run(s, lambda line: print(line, file=sys.stderr, flush=True)))
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    write_outputs(report, args.out)
    print(bench_report.markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
