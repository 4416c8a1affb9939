"""The helpers the Prometheus test and the dashboard snapshot rest on: alert signals, legends, variables."""

from __future__ import annotations

import pytest

from load_tests.observability import alert_expressions, alert_signal, grafana_to_promql, legend


def test_alert_signal_turns_the_threshold_into_bool_and_unwraps_absent():
    assert alert_signal("up{job='x'} < 1") == "up{job='x'} < bool 1"
    assert alert_signal("time() - max(ts) > 26 * 3600") == "time() - max(ts) > bool 26 * 3600"
    assert alert_signal("absent(ctr_x{job='y'})") == "ctr_x{job='y'}"
    with pytest.raises(ValueError):
        alert_signal("rate(x[5m])")  # no threshold: the live test could not tell a silent alert


def test_every_deployed_alert_has_a_signal():
    rules = alert_expressions()
    assert len(rules) == 11  # nine, plus CtrScoreDrift and CtrOovJump (the drift alerts)
    for _, expr in rules:
        assert alert_signal(expr) != expr


def test_legend_and_grafana_variables():
    assert legend("{{endpoint}} p99", {"endpoint": "/v1/score"}) == "/v1/score p99"
    assert legend("__auto", {"b": "2", "a": "1"}) == "a=1 b=2"
    assert grafana_to_promql("rate(x[$__rate_interval])", "30s") == "rate(x[30s])"
    with pytest.raises(ValueError):
        grafana_to_promql("rate(x{job=~'$job'}[1m])", "30s")
