"""Soak: a steady half load for a while, watching the server for leaks, stalls and lost rows.

    python -m load_tests.soak --artifact models/ml100k --seconds 600 [--rate 1500] [--out soak.json]

One server process (one worker, pinned to CPU 0; this driver on CPU 1 when the machine has two),
with the impression log on. Unless ``rate`` is given, the closed-loop maximum is measured first in
the same run (16 connections, about 3 s) and the soak runs open loop at half of it. Every
``interval`` seconds it records the server's RSS (/proc/<pid>/status), open file descriptors
(/proc/<pid>/fd), event-loop lag (``ctr_event_loop_lag_seconds`` from /metrics: the mean over the
interval and the smallest bucket bound above all of it) and the errors so far.

Verdicts, after a warm-up (the first third of the run, at most 60 s): a least-squares line
(``numpy.polyfit``) through RSS and through the descriptor count must stay under the stated bounds:
RSS below ``rss_mb_per_min`` (default 1 MB/min; a leak of 1 KB per 1,000 requests at 1,000
requests/s would be 60 MB/min), and descriptors growing by less than one over the whole steady
window (the fitted slope times the window: not one leaked descriptor; log segments rotating and
connections coming and going wobble by one or two, which the fit averages out). Plus zero errors,
and rows logged + rows dropped == rows scored == rows answered 200, with the log files holding
exactly the logged rows. The closed-loop maximum and the lag depend on what else the machine runs:
the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from load_tests.faults import settled_log_counts
from load_tests.loadgen import closed_loop
from load_tests.server import ServerProcess
from load_tests.traffic import Traffic, log_rows, metric_sum, open_fds, rss_bytes, score_bodies, summary

SERVER_CPU, DRIVER_CPU = 0, 1


@contextlib.contextmanager
def driver_on(cpu: int) -> Iterator[None]:
    """Pin this process (the load driver) to ``cpu`` while the run lasts, if the machine has it."""
    before = os.sched_getaffinity(0)
    if cpu in before and len(before) > 1:
        os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def closed_loop_max(port: int, bodies: list[bytes], seconds: float = 3.0) -> float:
    """Requests/s of 16 closed-loop connections over about ``seconds`` (after a short warm-up)."""
    probe = asyncio.run(closed_loop("127.0.0.1", port, "/v1/score", bodies, concurrency=16, requests=500))
    requests = max(500, int(probe.requests_per_second * seconds))
    return asyncio.run(closed_loop("127.0.0.1", port, "/v1/score", bodies, concurrency=16,
                                   requests=requests)).requests_per_second  # fmt: skip


def slope_per_minute(t: list[float], y: list[float]) -> float | None:
    """Least-squares slope of ``y`` per minute of ``t`` (seconds); None with fewer than 3 points."""
    if len(t) < 3:
        return None
    return float(np.polyfit(np.asarray(t) / 60.0, np.asarray(y, dtype=float), 1)[0])


def run(artifact: Path, workdir: Path, seconds: float, rate: float | None = None, *, interval: float | None = None,
        rss_mb_per_min: float = 1.0, pin: bool = True) -> dict[str, Any]:  # fmt: skip
    """Soak the server for ``seconds`` at ``rate`` (default: half the closed-loop maximum); see the module doc."""
    interval = interval or min(5.0, max(1.0, seconds / 60))
    warmup = min(60.0, seconds / 3)
    log_dir = workdir / "soak-impressions"
    env = {"CTR_MODEL_DIR": str(artifact), "CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(log_dir),
           "CTR_IMPRESSION_ROTATE_SECONDS": str(max(5.0, seconds / 10))}  # fmt: skip
    bodies = score_bodies(artifact, n=2000)
    load_before = os.getloadavg()
    server = ServerProcess(env, cpu=SERVER_CPU if pin else None).start(timeout=120)
    assert server.process is not None
    pid, samples = server.process.pid, []
    try:
        with driver_on(DRIVER_CPU) if pin else contextlib.nullcontext():
            measured_max = None if rate is not None else closed_loop_max(server.port, bodies)
            rate = rate if rate is not None else 0.5 * measured_max  # type: ignore[operator]
            scored_before = metric_sum(server.metrics(), "ctr_scored_rows_total", endpoint="/v1/score")
            traffic = Traffic(server.port, bodies, rate, keep=False)
            traffic.start()
            lag_before, cpu_before = _lag(server), (server.cpu_seconds(), time.monotonic())
            while traffic.now() < seconds:
                time.sleep(min(interval, max(0.0, seconds - traffic.now())))
                lag, cpu = _lag(server), (server.cpu_seconds(), time.monotonic())
                # the server's share of one core, and the machine's load: a lag spike at a low share
                # under a high load is a worker waiting for a CPU, not one busy with its own work
                share = (cpu[0] - cpu_before[0]) / max(cpu[1] - cpu_before[1], 1e-9)
                samples.append({**_sample(traffic, pid, lag, lag_before), "server_cpu_share": round(share, 3),
                                "load_1m": os.getloadavg()[0]})  # fmt: skip
                lag_before, cpu_before = lag, cpu
            traffic.stop()
        counts = settled_log_counts(server)
    finally:
        server.stop()  # SIGTERM: the log drains and makes its last segments visible
    lines = log_rows(log_dir)
    shutil.rmtree(log_dir, ignore_errors=True)  # a long soak writes hundreds of MB
    return _verdict(traffic, samples, counts, lines, scored_before, warmup, rss_mb_per_min,
                    {"seconds": seconds, "interval_s": interval, "warmup_s": warmup, "measured_max_rps": measured_max,
                     "server_cpu": SERVER_CPU if pin else None, "driver_cpu": DRIVER_CPU if pin else None,
                     "load_average_before_after": [load_before[0], os.getloadavg()[0]]})  # fmt: skip


def _lag(server: ServerProcess) -> tuple[float, float, dict[str, float]]:
    samples = server.metrics()
    buckets = {k: v for k, v in samples.items() if k.startswith("ctr_event_loop_lag_seconds_bucket")}
    return samples["ctr_event_loop_lag_seconds_count"], samples["ctr_event_loop_lag_seconds_sum"], buckets


def _sample(traffic: Traffic, pid: int, lag: tuple[float, float, dict[str, float]],
            before: tuple[float, float, dict[str, float]]) -> dict[str, Any]:  # fmt: skip
    count, total = lag[0] - before[0], lag[1] - before[1]
    # the lowest bucket bound whose count grew by every observation of the interval bounds its largest lag
    grown_by_all = [le for le, k in ((float(k.split('le="')[1].split('"')[0]), k) for k in lag[2])
                    if lag[2][k] - before[2].get(k, 0) == count]  # fmt: skip
    return {"t_s": round(traffic.now(), 2), "rss_mb": rss_bytes(pid) / 2**20, "open_fds": open_fds(pid),
            "loop_lag_mean_ms": total / count * 1e3 if count else None,
            "loop_lag_max_below_ms": min(grown_by_all) * 1e3 if count and grown_by_all else None,
            "requests_sent": traffic.sent, "errors": traffic.errors()}  # fmt: skip


def _verdict(
    traffic: Traffic,
    samples: list[dict[str, Any]],
    counts: dict[str, float],
    lines: tuple[int, bool],
    scored_before: float,
    warmup: float,
    rss_bound: float,
    setup: dict[str, Any],
) -> dict[str, Any]:
    steady = [s for s in samples if s["t_s"] >= warmup]
    t = [s["t_s"] for s in steady]
    rss_slope = slope_per_minute(t, [s["rss_mb"] for s in steady])
    fds_slope = slope_per_minute(t, [s["open_fds"] for s in steady])
    fds_growth = None if fds_slope is None else fds_slope * (t[-1] - t[0]) / 60  # over the steady window
    received = counts["scored"] - scored_before  # the closed-loop probe's rows were scored (and logged) too
    lags = [s["loop_lag_mean_ms"] for s in samples if s["loop_lag_mean_ms"] is not None]
    result = {
        "fault": None, "what": f"steady open-loop load for {setup['seconds']:g} s", **setup, **summary(traffic),
        "achieved_rps": traffic.sent / max(samples[-1]["t_s"], 1e-9) if samples else 0.0,
        "rss_mb_first_last": [samples[0]["rss_mb"], samples[-1]["rss_mb"]] if samples else None,
        "rss_slope_mb_per_min": rss_slope, "rss_bound_mb_per_min": rss_bound,
        "fds_slope_per_min": fds_slope, "fds_fitted_growth_over_steady_window": fds_growth,
        "open_fds_min_max_after_warmup": [min(s["open_fds"] for s in steady), max(s["open_fds"] for s in steady)]
        if steady else None,
        "loop_lag_mean_ms": float(np.mean(lags)) if lags else None,
        "rows_answered_200": traffic.rows_ok, "rows_received_during_soak": received,
        "rows_received": counts["scored"], "rows_logged": counts["logged"], "rows_dropped": counts["dropped"],
        "rows_in_files": lines[0], "samples": samples,
    }  # fmt: skip
    result["checks"] = {
        "zero_errors": traffic.errors() == 0 and traffic.sent > 0,
        "rss_slope_under_bound": rss_slope is not None and rss_slope < rss_bound,
        "fds_fitted_growth_under_one": fds_growth is not None and fds_growth < 1.0,
        "rows_received_equals_rows_answered": received == traffic.rows_ok,
        "logged_plus_dropped_equals_received": counts["logged"] + counts["dropped"] == counts["scored"],
        "files_hold_exactly_the_logged_rows": lines[0] == counts["logged"] and lines[1],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("models/ml100k"), help="model or version directory")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to soak")
    parser.add_argument("--rate", type=float, help="requests/s (default: half the measured closed-loop maximum)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ctr-soak"), help="impression log goes here")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.artifact, args.workdir, args.seconds, args.rate)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    return 0 if all(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
