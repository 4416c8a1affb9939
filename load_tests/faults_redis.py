"""Redis faults under load (load_tests/faults.py): Redis killed and restarted, Redis slowed.

Each runs against a throw-away ``redis-server`` on a loopback port (tests/redis_servers.py) holding
the published model, and a server process with ``CTR_STORE=redis``. The single-request behaviour of
each failure is tested in tests/app/stores/test_redis_failures.py (table in docs/redis.md); these
runs check it holds for steady traffic: no 500, no hang, every error the one error body, recovery
without a restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson

from load_tests.server import ServerProcess
from load_tests.traffic import Outcome, Traffic, first_success_after, score_bodies, summary

# 200 = scored (from the row cache, or Redis answered); 503 store_unavailable = the lookup failed in time.
ALLOWED = {(200, None), (503, "store_unavailable")}


def _redis(workdir: Path, *args: str) -> Any:
    from tests.redis_servers import RedisServer  # the test helper: one throw-away redis-server

    return RedisServer(workdir, *args).start()


def _publish(artifact: Path, url: str) -> str:
    from load_tests.redis_store import publish_version

    model = f"faults-{uuid.uuid4().hex[:8]}"
    publish_version(artifact, url, model)
    return model


def _probabilities(url: str, body: bytes) -> list[float]:
    request = urllib.request.Request(f"{url}/v1/score", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return orjson.loads(response.read())["probabilities"]


def _unexpected(outcomes: list[Outcome]) -> dict[str, int]:
    """Answers outside 200 / 503 store_unavailable, by status and code (timeouts and 500s land here)."""
    out: dict[str, int] = {}
    for o in outcomes:
        if (o.status, o.code) not in ALLOWED:
            key = f"{o.status} {o.code}"
            out[key] = out.get(key, 0) + 1
    return out


def run_redis_kill(artifact: Path, workdir: Path, *, rate: float = 100.0, before: float = 2.0, outage: float = 3.0,
                   after: float = 4.0) -> dict[str, Any]:  # fmt: skip
    """SIGKILL Redis under traffic, start it again ``outage`` seconds later on the same port (it reloads its RDB).

    The row cache is off (``CTR_REDIS_CACHE_ENTRIES=0``) so every request needs Redis: during the
    outage every answer must be a prompt 503 ``store_unavailable`` in the one error body; after the
    restart the server must serve again by itself. Recovery = restart to the first 200 of a request
    sent after it. Redis persists the published model with ``SAVE`` first (as a production Redis with
    RDB or AOF would); a Redis that comes back empty is covered by test_redis_lost_mid_traffic.
    """
    redis = _redis(workdir)
    try:
        model = _publish(artifact, redis.url)
        subprocess.run(["redis-cli", "-p", str(redis.port), "save"], check=True, capture_output=True, timeout=60)
        env = {"CTR_STORE": "redis", "CTR_REDIS_URL": redis.url, "CTR_REDIS_MODEL": model,
               "CTR_REDIS_CACHE_ENTRIES": "0"}  # fmt: skip
        with ServerProcess(env) as server:
            bodies = score_bodies(artifact)
            expected = _probabilities(server.url, bodies[0])
            traffic = Traffic(server.port, bodies, rate).start()
            time.sleep(before)
            killed_at = traffic.now()
            os.kill(redis.process.pid, signal.SIGKILL)
            redis.process.wait()
            redis.process = None
            time.sleep(outage)
            redis.start()
            restarted_at = traffic.now()
            time.sleep(after)
            traffic.stop()
            same_scores = _probabilities(server.url, bodies[0]) == expected
    finally:
        redis.stop()
    during = [o for o in traffic.outcomes if killed_at <= o.sent < restarted_at]
    recovery = first_success_after(traffic, restarted_at)
    settled = [o for o in traffic.outcomes if o.sent >= restarted_at + (recovery or 0) + 1.0]
    result = {
        "fault": "redis_kill", "what": f"SIGKILL redis-server, restarted after {outage:g} s (row cache off)",
        **summary(traffic), "fault_injected_at_s": killed_at, "fault_ended_at_s": restarted_at,
        "recovery_s": recovery, "during_outage": _tally(during), "unexpected_answers": _unexpected(traffic.outcomes),
        "max_latency_during_outage_ms": max((o.latency for o in during), default=0.0) * 1e3,
    }  # fmt: skip
    result["checks"] = {
        "outage_answered_503_in_the_error_body": bool(during)
        and not _unexpected(traffic.outcomes)
        and any(o.status == 503 for o in during),
        "outage_answers_prompt_not_hangs": result["max_latency_during_outage_ms"] < 1000,
        "recovered_without_restart": recovery is not None,
        "all_served_a_second_after_recovery": bool(settled) and all(o.status == 200 for o in settled),
        "same_scores_after_recovery": same_scores,
    }
    return result


def run_redis_slow(artifact: Path, workdir: Path, *, rate: float = 100.0, before: float = 3.0, sleep: float = 2.0,
                   after: float = 3.0, deadline_ms: float = 20.0) -> dict[str, Any]:  # fmt: skip
    """``DEBUG SLEEP`` blocks Redis for ``sleep`` seconds under traffic (row cache on, deadline ``deadline_ms``).

    Nothing may wait for the sleeping Redis: each answer is a 200 (its rows were cached) or a 503
    ``store_unavailable`` after the lookup deadline, and ``/healthz`` answers meanwhile (the worker
    is not stuck). Afterwards, scores are the same as before (no reply of the slow Redis was
    matched to the wrong request).
    """
    redis = _redis(workdir, "--enable-debug-command", "local")
    try:
        model = _publish(artifact, redis.url)
        env = {"CTR_STORE": "redis", "CTR_REDIS_URL": redis.url, "CTR_REDIS_MODEL": model,
               "CTR_REDIS_TIMEOUT_MS": str(deadline_ms)}  # fmt: skip
        with ServerProcess(env) as server:
            bodies = score_bodies(artifact, n=4000)  # many distinct values: the cache keeps missing
            expected = _probabilities(server.url, bodies[0])
            traffic = Traffic(server.port, bodies, rate).start()
            time.sleep(before)
            slowed_at = traffic.now()
            sleeper = subprocess.Popen(["redis-cli", "-p", str(redis.port), "debug", "sleep", str(sleep)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            health = _health_during(server.url, sleep)
            sleeper.wait(timeout=sleep + 30)
            ended_at = traffic.now()
            time.sleep(after)
            traffic.stop()
            same_scores = _probabilities(server.url, bodies[0]) == expected
    finally:
        redis.stop()
    during = [o for o in traffic.outcomes if slowed_at <= o.sent < ended_at]
    latencies = sorted(o.latency for o in during if o.status is not None)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1e3 if latencies else None
    settled = [o for o in traffic.outcomes if o.sent >= ended_at + 1.0]
    result = {
        "fault": "redis_slow",
        "what": f"redis DEBUG SLEEP {sleep:g} (row cache on, lookup deadline {deadline_ms:g} ms)",
        **summary(traffic), "fault_injected_at_s": slowed_at, "fault_ended_at_s": ended_at,
        "recovery_s": first_success_after(traffic, ended_at), "during_slowdown": _tally(during),
        "unexpected_answers": _unexpected(traffic.outcomes), "p99_latency_during_slowdown_ms": p99,
        "max_latency_during_slowdown_ms": latencies[-1] * 1e3 if latencies else None,
        "healthz_during_slowdown_ms": health,
    }  # fmt: skip
    result["checks"] = {
        "answers_200_or_503_in_the_error_body": bool(during) and not _unexpected(traffic.outcomes),
        # the deadline plus this shared 2-core machine's scheduling; far below the sleep: nobody waited for Redis
        "answered_within_the_deadline_not_the_sleep": p99 is not None and p99 < deadline_ms + 250,
        "no_worker_stuck": bool(health) and max(health) < 1000,
        "all_served_a_second_after": bool(settled) and all(o.status == 200 for o in settled),
        "same_scores_after": same_scores,
    }
    return result


def _health_during(url: str, seconds: float) -> list[float]:
    """``/healthz`` round trips (ms) every 0.25 s for ``seconds``; a failed one counts as 10 s."""
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
                response.read()
            out.append((time.perf_counter() - started) * 1e3)
        except OSError:
            out.append(10_000.0)
        time.sleep(0.25)
    return out


def _tally(outcomes: list[Outcome]) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in outcomes:
        key = str(o.status) if o.code is None else f"{o.status} {o.code}"
        out[key] = out.get(key, 0) + 1
    return out
