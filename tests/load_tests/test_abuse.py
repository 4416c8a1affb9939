"""Slow and abusive clients and SIGTERM against a real server (load_tests/abuse.py): every check holds.

Short variants run by default (~35 s in all); the full sizes are ``-m slow``.
"""

from __future__ import annotations

import pytest

from load_tests import abuse


def held(result: dict) -> dict:
    failed = {name: ok for name, ok in result["checks"].items() if not ok}
    assert not failed, (failed, result)
    return result


def test_a_slow_body_and_slow_headers_get_408_while_others_are_served(artifact_path, tmp_path):
    result = held(abuse.run_slow_body(artifact_path, tmp_path, slow_clients=2, timeout=2.0, baseline=1.0))
    assert len(result["abusive_received"]["clients"]) == 3


def test_idle_connections_are_closed_and_others_served(artifact_path, tmp_path):
    result = held(abuse.run_idle_connections(artifact_path, tmp_path, connections=200, keep_alive=1, baseline=1.0))
    assert result["abusive_received"]["closed_by_server"] == 200


def test_a_full_worker_answers_503_busy_until_idle_connections_are_closed(artifact_path, tmp_path):
    result = held(abuse.run_connection_limit(artifact_path, tmp_path, limit=20, keep_alive=1))
    assert result["abusive_received"]["new_request_while_full"]["retry_after"] == "1"


def test_disconnects_at_every_stage_are_counted_without_5xx(artifact_path, tmp_path):
    held(abuse.run_disconnects(artifact_path, tmp_path, each=3, baseline=1.0))


def test_concurrent_maximum_bodies_get_200_or_503_in_bounded_memory(artifact_path, tmp_path):
    mb = abuse.MB
    result = held(abuse.run_max_bodies(artifact_path, tmp_path, clients=6, rounds=1, max_body=mb, budget=2 * mb,
                                       baseline=1.0))  # fmt: skip
    assert result["abusive_received"]["statuses"].get("503", 0) > 0  # the budget was reached and refused


def test_sigterm_drains_in_flight_requests_and_flushes_the_log(artifact_path, tmp_path):
    result = held(abuse.run_sigterm(artifact_path, tmp_path, before=1.5))
    assert result["rows_logged"] > 0


@pytest.mark.slow
def test_sigterm_to_the_supervisor_drains_both_workers(artifact_path, tmp_path):
    result = held(abuse.run_sigterm(artifact_path, tmp_path, workers=2))
    assert result["rows_logged"] > 0


@pytest.mark.slow
def test_full_sizes(artifact_path, tmp_path):
    for result in (abuse.run_slow_body(artifact_path, tmp_path), abuse.run_idle_connections(artifact_path, tmp_path),
                   abuse.run_max_bodies(artifact_path, tmp_path)):  # fmt: skip
        held(result)


@pytest.mark.slow
def test_plain_uvicorn_holds_a_slow_client_that_the_edge_protocol_answers(artifact_path, tmp_path):
    """The comparison that shows what app.http.protocol adds: uvicorn alone never answers a slow body."""
    result = abuse.run_slow_body(artifact_path, tmp_path, slow_clients=1, timeout=2.0, baseline=1.0, plain=True)
    assert not result["checks"]["every_slow_client_got_408_request_timeout"]
    assert all(c["status"] is None for c in result["abusive_received"]["clients"])
