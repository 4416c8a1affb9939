"""The soak (load_tests/soak.py): 30 s in the default suite, 10 minutes opt-in (-m slow)."""

from __future__ import annotations

import pytest

from load_tests import soak
from tests.load_tests.test_faults import assert_checks


def test_a_30_second_soak_leaks_nothing_fails_nothing_and_loses_no_row(artifact_path, tmp_path):
    # A fixed modest rate, server unpinned: other jobs share this 2-core machine, and this run checks
    # leaks and accounting, not throughput (the report's soak measures the closed-loop maximum).
    result = soak.run(artifact_path, tmp_path, seconds=30, rate=150, pin=False)
    assert_checks(result)
    assert len(result["samples"]) >= 25  # every second
    assert all(s["loop_lag_mean_ms"] is not None for s in result["samples"])  # the lag metric is scraped
    assert result["rows_logged"] >= result["rows_answered_200"] > 0.9 * 30 * 150


def test_the_fitted_slopes_see_a_leak_and_ignore_a_wobble():
    t = [float(i) for i in range(60)]
    assert soak.slope_per_minute(t, [100 + 0.05 * i for i in t]) == pytest.approx(3.0)  # 3 MB/min: would fail
    assert abs(soak.slope_per_minute(t, [82 + (i % 2) for i in range(60)])) < 0.1  # a descriptor coming and going
    assert soak.slope_per_minute([0.0, 1.0], [1.0, 2.0]) is None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_10_minute_soak_at_half_the_closed_loop_maximum(movielens_trained, tmp_path):
    result = soak.run(movielens_trained[1], tmp_path, seconds=600)
    assert_checks(result)
