"""Faults under load against real processes (load_tests/faults.py): each run's own checks must all pass.

The runs are the ones the reliability report makes, shortened. Each check compares what the
traffic saw with what the fault allows (e.g. only requests on the killed worker's connections may
fail; a full disk must not cost one request), so a regression in the server fails a check.
"""

from __future__ import annotations

import shutil

import pytest

from load_tests import faults
from load_tests.traffic import _error_code


def assert_checks(result: dict) -> None:
    failed = sorted(name for name, ok in result["checks"].items() if not ok)
    shown = {k: v for k, v in result.items() if k not in ("checks", "samples")}
    assert result["checks"] and not failed, f"failed checks {failed}: {shown}"


def test_a_killed_worker_is_replaced_while_the_other_serves(artifact_path, tmp_path):
    result = faults.run_worker_kill(artifact_path, tmp_path, rate=100, before=1.5, after=1.5)
    assert_checks(result)
    assert result["time_to_restart_s"] < 5  # uvicorn's supervisor looks every 0.5 s
    assert result["time_to_restart_s"] <= result["time_to_ready_s"] <= result["time_to_serve_s"]
    assert result["errors"] == sum(result["errors_by_kind"].values())


def test_a_full_disk_costs_logged_rows_not_requests_and_every_row_is_accounted_for(artifact_path, tmp_path):
    result = faults.run_disk_full(artifact_path, tmp_path, rate=150, full=2.0, after=2.0)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert_checks(result)
    assert result["rows_logged"] > 0 and result["rows_dropped"] > 0
    assert result["rows_received"] == result["rows_answered_200"] == result["requests_sent"]  # one row per request


@pytest.mark.slow  # the default suite covers each Redis failure per request (tests/app/stores/test_redis_failures.py)
@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_killed_under_traffic_answers_503_then_recovers_by_itself(artifact_path, tmp_path):
    result = faults.run_redis_kill(artifact_path, tmp_path, rate=80, before=1.0, outage=2.0, after=2.5)
    assert_checks(result)
    assert result["during_outage"].get("503 store_unavailable", 0) >= 80  # ~2 s at 80/s: the outage was seen
    assert result["recovery_s"] < 2.0


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_slow_redis_costs_the_lookup_deadline_not_the_sleep(artifact_path, tmp_path):
    result = faults.run_redis_slow(artifact_path, tmp_path, rate=80, before=2.0, sleep=2.0, after=2.0)
    assert_checks(result)
    assert result["during_slowdown"].get("503 store_unavailable", 0) > 0  # Redis was needed, and slow


def test_anything_but_the_one_error_body_is_flagged():
    assert _error_code(b'{"error": "store_unavailable", "detail": "x", "field": null}') == "store_unavailable"
    assert _error_code(b"Internal Server Error") == "not_the_error_body"
    assert _error_code(b'{"detail": "x"}') == "not_the_error_body"


def test_run_all_records_a_fault_that_raises_and_still_runs_the_others(monkeypatch, tmp_path):
    def boom(artifact, workdir):
        raise RuntimeError("server did not start")

    monkeypatch.setattr(faults, "FAULTS", {"boom": boom, "fine": lambda a, w: {"fault": "fine", "checks": {"x": True}}})
    results = faults.run_all(tmp_path, tmp_path)
    assert results == [{"fault": "boom", "error": "RuntimeError: server did not start", "checks": {"ran": False}},
                       {"fault": "fine", "checks": {"x": True}}]  # fmt: skip
