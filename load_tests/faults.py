"""Faults under load: a real server takes steady traffic while something breaks underneath it.

Each ``run_<fault>(artifact, workdir) -> dict`` starts its own server process (``ctr serve`` /
uvicorn, load_tests/server.py), sends open-loop ``/v1/score`` traffic from a background thread
(load_tests/traffic.py), injects the fault, lets it end, and returns what happened (JSON-able):
requests sent, status counts, errors (classified), when the fault was injected and ended, recovery
times, and ``checks: {name: bool}``. Times are seconds since the traffic started.

* :func:`run_worker_kill` — one of two workers SIGKILLed; the other keeps serving, uvicorn restarts it.
* :func:`run_redis_kill`, :func:`run_redis_slow` — load_tests/faults_redis.py.
* :func:`run_disk_full` — the impression log on a small tmpfs that fills up; scoring goes on, drops are counted.

``run_all`` runs them in turn; ``python -m load_tests.reliability`` puts them in the report.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import MultiProcessCollector

from load_tests.faults_redis import run_redis_kill, run_redis_slow
from load_tests.server import ServerProcess, parse_metrics
from load_tests.traffic import (
    Traffic,
    first_success_after,
    log_rows,
    metric_sum,
    score_bodies,
    summary,
    worker_pids,
)

__all__ = ["run_all", "run_disk_full", "run_redis_kill", "run_redis_slow", "run_worker_kill"]
CONNECTION_ERRORS = {"HttpError", "IncompleteReadError", "ConnectionResetError", "BrokenPipeError"}


def _file_total(path: Path, metric: str, **labels: str) -> float:
    """A metric's value in one worker's prometheus_client file (0 if the file is not there yet)."""
    if not path.exists():
        return 0.0
    samples = MultiProcessCollector.merge([str(path)], accumulate=False)
    return sum(s.value for m in samples if m.name == metric for s in m.samples
               if s.name in (metric, f"{metric}_total")
               and all(s.labels.get(k) == v for k, v in labels.items()))  # fmt: skip


def run_worker_kill(artifact: Path, workdir: Path, *, rate: float = 200.0, before: float = 2.0,
                    after: float = 4.0) -> dict[str, Any]:  # fmt: skip
    """``ctr serve --workers 2`` under traffic; SIGKILL one worker; the other serves, the supervisor restarts it.

    Connections are reopened every 5 requests (short-lived connections, as some load balancers
    make) so new ones soon reach the replacement worker. A request can fail only if its connection
    was held by the killed worker: in flight at the kill, or sent afterwards on that connection
    before the client noticed it was gone. Anything else counts as ``other`` and fails the run.
    "Ready" = the new worker's ``ctr_model_ready`` file reads 1; "serving" = its request counter
    (flushed every 0.1 s) is above 0.
    """
    metrics_dir = workdir / "worker-kill-metrics"
    env = {"CTR_MODEL_DIR": str(artifact), "CTR_METRICS_DIR": str(metrics_dir), "CTR_METRICS_FLUSH_SECONDS": "0.1"}
    server = ServerProcess(env, workers=2).start(timeout=120)
    assert server.process is not None
    supervisor = server.process.pid
    try:
        traffic = Traffic(server.port, score_bodies(artifact), rate, requests_per_connection=5)
        traffic.start()
        time.sleep(before)
        victim, survivor = worker_pids(supervisor)
        killed_at = traffic.now()
        os.kill(victim, signal.SIGKILL)
        replacement, restarted, ready, serving = None, None, None, None
        deadline = time.monotonic() + 60
        while serving is None and time.monotonic() < deadline:
            if replacement is None:
                new = [p for p in worker_pids(supervisor) if p not in (victim, survivor)]
                if new:
                    replacement, restarted = new[0], traffic.now()
            ready_file = metrics_dir / f"gauge_min_{replacement}.db"
            if replacement is not None and ready is None and _file_total(ready_file, "ctr_model_ready") == 1:
                ready = traffic.now()
            if replacement is not None and _file_total(metrics_dir / f"counter_{replacement}.db", "ctr_http_requests",
                                                       endpoint="/v1/score") > 0:  # fmt: skip
                serving = traffic.now()
            time.sleep(0.02)
        time.sleep(after)
        traffic.stop()
        survivor_alive = survivor in worker_pids(supervisor)
    finally:
        server.stop()
    failed = [o for o in traffic.outcomes if o.status != 200]
    in_flight = [o for o in failed if o.sent < killed_at]
    stale = [o for o in failed
             if o.sent >= killed_at and o.connection_opened < killed_at and o.code in CONNECTION_ERRORS]  # fmt: skip
    other = len(failed) - len(in_flight) - len(stale)
    until = ready if ready is not None else traffic.now()
    served_meanwhile = sum(1 for o in traffic.outcomes if o.status == 200 and killed_at <= o.sent < until)
    result = {
        "fault": "worker_kill", "what": "SIGKILL one of 2 uvicorn workers (ctr serve --workers 2)",
        **summary(traffic), "fault_injected_at_s": killed_at,
        "errors_by_kind": {"in_flight_at_kill": len(in_flight), "stale_connection_to_killed_worker": len(stale),
                           "other": other},
        "time_to_restart_s": None if restarted is None else restarted - killed_at,
        "time_to_ready_s": None if ready is None else ready - killed_at,
        "time_to_serve_s": None if serving is None else serving - killed_at,
        "recovery_s": None if serving is None else serving - killed_at,  # both workers serving again
        "first_success_after_fault_s": first_success_after(traffic, killed_at),
        "served_by_the_other_worker_meanwhile": served_meanwhile,
    }  # fmt: skip
    result["checks"] = {
        "survivor_kept_serving": served_meanwhile > 0 and survivor_alive,
        "supervisor_restarted_the_worker": restarted is not None,
        "replacement_served_requests": serving is not None,
        "errors_only_on_the_killed_workers_connections": other == 0,
        "errors_at_most_one_per_connection": len(failed) <= traffic.connections,
        "no_server_errors": not any(o.status is not None and o.status >= 500 for o in traffic.outcomes),
    }
    return result


def mount_tmpfs(directory: Path, size_kb: int) -> str | None:
    """Mount a ``size_kb`` tmpfs on ``directory``; the reason it could not be, or None."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(directory)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount -t tmpfs failed: {exc}"
    return None if done.returncode == 0 else f"mount -t tmpfs not permitted here: {done.stderr.strip()}"


def fill(directory: Path, leave: int) -> Path:
    """Write a filler file until the filesystem is full, then give ``leave`` bytes back."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while os.write(fd, b"\0" * 4096) == 4096:
            pass
    except OSError:  # ENOSPC: full
        pass
    finally:
        os.close(fd)
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def run_disk_full(artifact: Path, workdir: Path, *, rate: float = 200.0, full: float = 3.0, after: float = 3.0,
                  size_kb: int = 1024) -> dict[str, Any]:  # fmt: skip
    """Impression log on a ``size_kb`` tmpfs filled up to 16 KB free; scoring must not notice.

    After ``full`` seconds the filler is deleted (space comes back) and logging must resume.
    Checks rows logged + rows dropped == rows scored (the server's counters, and the client's
    count of rows answered 200), and that the files hold exactly the logged rows, every line whole.
    """
    log_dir = workdir / "impressions-tmpfs"
    reason = mount_tmpfs(log_dir, size_kb)
    if reason is not None:
        return {"fault": "disk_full", "skipped": reason, "checks": {}}
    try:
        filler = fill(log_dir, leave=16 * 1024)
        env = {"CTR_MODEL_DIR": str(artifact), "CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(log_dir),
               "CTR_IMPRESSION_ROTATE_SECONDS": "1"}  # fmt: skip
        server = ServerProcess(env).start(timeout=120)
        try:
            traffic = Traffic(server.port, score_bodies(artifact), rate).start()
            time.sleep(full)
            freed_at, logged_before = traffic.now(), _logged(server.metrics())
            filler.unlink()
            resumed = None
            while traffic.now() < freed_at + after:
                if resumed is None and _logged(server.metrics()) > logged_before:
                    resumed = traffic.now() - freed_at
                time.sleep(0.05)
            traffic.stop()
            counts = settled_log_counts(server)
        finally:
            server.stop()  # SIGTERM: the log drains and makes its last segments visible
        lines, whole = log_rows(log_dir)
    finally:
        subprocess.run(["umount", str(log_dir)], capture_output=True, timeout=30)
    result = {
        "fault": "disk_full", "what": f"impression log on a {size_kb} KB tmpfs filled to 16 KB free, freed later",
        **summary(traffic), "fault_injected_at_s": 0.0, "fault_ended_at_s": freed_at,
        "recovery_s": resumed, "rows_received": counts["scored"], "rows_answered_200": traffic.rows_ok,
        "rows_logged": counts["logged"], "rows_dropped": counts["dropped"], "rows_in_files": lines,
    }  # fmt: skip
    result["checks"] = {
        "all_requests_answered_200": traffic.errors() == 0 and traffic.sent > 0,
        "disk_filled_and_rows_were_dropped": counts["dropped_write_error"] > 0,
        "logged_plus_dropped_equals_received": counts["logged"] + counts["dropped"]
        == counts["scored"]
        == traffic.rows_ok,
        "files_hold_exactly_the_logged_rows": lines == counts["logged"] and whole,
        "logging_resumed_when_space_came_back": resumed is not None,
    }
    return result


def _logged(samples: dict[str, float]) -> float:
    return metric_sum(samples, "ctr_logged_rows_total", stream="impressions")


def settled_log_counts(server: ServerProcess, timeout: float = 10.0) -> dict[str, float]:
    """The log's counters once everything queued is written or dropped (the writer drains every 0.2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
            samples = parse_metrics(response.read().decode())
        counts = {"scored": metric_sum(samples, "ctr_scored_rows_total", endpoint="/v1/score"),
                  "logged": _logged(samples),
                  "dropped": metric_sum(samples, "ctr_logged_rows_dropped_total", stream="impressions"),
                  "dropped_write_error": metric_sum(samples, "ctr_logged_rows_dropped_total", stream="impressions",
                                                    reason="write_error")}  # fmt: skip
        if counts["logged"] + counts["dropped"] >= counts["scored"] or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


FAULTS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "worker_kill": run_worker_kill,
    "redis_kill": run_redis_kill,
    "redis_slow": run_redis_slow,
    "disk_full": run_disk_full,
}


def run_all(artifact: Path, workdir: Path) -> list[dict[str, Any]]:
    """Every fault in turn, each with its own server (and Redis) in a subdirectory of ``workdir``.

    A fault that cannot be set up here (no ``redis-server``) is skipped with the reason; one whose
    run raises is recorded with the exception and a failed check, and the others still run.
    """
    results: list[dict[str, Any]] = []
    for name, run in FAULTS.items():
        directory = workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        if name.startswith("redis") and shutil.which("redis-server") is None:
            results.append({"fault": name, "skipped": "redis-server is not installed", "checks": {}})
            continue
        try:
            results.append(run(artifact, directory))
        except Exception as exc:  # recorded, never hidden: the report shows the exception and a failed check
            results.append({"fault": name, "error": f"{type(exc).__name__}: {exc}", "checks": {"ran": False}})
    return results
