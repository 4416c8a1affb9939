"""SIGTERM under traffic (``run_sigterm``, part of load_tests/abuse.py): drained, logged, exit 0.

Normal clients post with a new connection per request (so that after SIGTERM a refused connection is
plainly "not accepted"), and one client sends each body in two halves 0.4 s apart, so that a request
is mid-body when the signal arrives. Every request carries its id, and the impression log is read
back after the server exits: a request answered 200 must be in it with all its rows, and a request
closed unanswered must not be (else it was processed and its answer lost: an in-flight failure).
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path
from typing import Any

import orjson

from load_tests.abuse_clients import Traffic, edge_server, score_body
from load_tests.process_watch import RssPeak

MB = 1 << 20


def run_sigterm(artifact: Path, workdir: Path, workers: int = 1, clients: int = 4, before: float = 2.0,
                shutdown_timeout: int = 10) -> dict[str, Any]:  # fmt: skip
    """SIGTERM under traffic: in-flight requests finish, the impression log holds exactly the rows answered."""
    log_dir = workdir / f"impressions-{workers}w"
    shutil.rmtree(log_dir, ignore_errors=True)  # only this run's rows are counted
    env = {"CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(log_dir),
           "CTR_SHUTDOWN_TIMEOUT_SECONDS": str(shutdown_timeout)}  # fmt: skip
    server = edge_server(artifact, workdir, f"sigterm_{workers}w", env, workers=workers).start(timeout=90)
    assert server.process is not None
    rows = 50
    traffic = Traffic(server.port, score_body(artifact, rows=rows), clients=clients, pause=0, new_connection=True)
    slow = Traffic(
        server.port, traffic.body, clients=1, pause=0, new_connection=True, split_pause=0.4, run=traffic.run + "s"
    )
    with RssPeak(server.process.pid) as rss:
        traffic.start()
        slow.start()
        time.sleep(before)
        t_term = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=shutdown_timeout + 20)
        except Exception:
            code = None
        drained = time.monotonic() - t_term
        time.sleep(0.5)
        outcomes = traffic.stop() + slow.stop()
    server.stop()
    logged: dict[str, int] = {}
    for path in log_dir.glob("date=*/impressions-*.jsonl"):
        for line in path.read_bytes().splitlines():
            rid = orjson.loads(line)["request_id"]
            logged[rid] = logged.get(rid, 0) + 1
    ok = {o.request_id for o in outcomes if o.result == "200"}
    unanswered = [o for o in outcomes if o.result == "closed_unanswered"]
    failed = [o for o in outcomes if o.result not in ("200", "refused", "closed_unanswered")]
    failed += [o for o in unanswered if o.request_id in logged]  # processed, yet its answer never arrived
    in_flight = [o for o in outcomes if o.result == "200" and o.started <= t_term <= o.started + o.seconds]
    results: dict[str, int] = {}
    for o in outcomes:
        results[o.result] = results.get(o.result, 0) + 1
    checks = {"exit_code_0": code == 0, "zero_failed_in_flight": not failed,
              "rows_logged_equal_rows_answered": sum(logged.values()) == rows * len(ok) and set(logged) == ok,
              "drained_within_bound": drained <= shutdown_timeout + 5,
              "a_request_mid_body_at_sigterm_was_answered": any(o.request_id.startswith(slow.run)
                                                                for o in in_flight)}  # fmt: skip
    return {"scenario": f"sigterm_{workers}_workers", "requests_sent": len(outcomes), "errors": results,
            "in_flight_at_sigterm": len(in_flight), "failed_in_flight": len(failed),
            "not_accepted": {"refused": results.get("refused", 0), "closed_unanswered_not_logged": len(unanswered)},
            "rows_answered_200": rows * len(ok), "rows_logged": sum(logged.values()), "exit_code": code,
            "seconds_to_exit": round(drained, 2), "peak_rss_mb": round(rss.peak / MB, 1), "checks": checks}  # fmt: skip
