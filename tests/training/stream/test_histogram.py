import numpy as np
import pytest

from contract.metrics import auc, calibration, log_loss
from training.stream.histogram import ScoreHistogram


def test_binned_auc_and_log_loss_match_the_exact_ones_within_the_bound():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 5, 50_000)
    y = (rng.random(50_000) < p).astype(np.float32)
    h = ScoreHistogram()
    h.add(y, p)
    assert abs(h.auc() - auc(y, p)) <= h.auc_error_bound() + 1e-12
    assert h.auc_error_bound() < 1e-4
    assert h.log_loss() == pytest.approx(log_loss(y, p), rel=1e-9)
    assert h.ece() == pytest.approx(calibration(y, p)["ece"], abs=1e-5)
    assert h.rows == 50_000 and h.positive_rate() == pytest.approx(y.mean())


def test_ties_count_half_as_in_the_exact_auc():
    y = np.array([1, 0, 1, 0], dtype=np.float32)
    p = np.array([0.5, 0.5, 0.9, 0.1])
    h = ScoreHistogram(bins=1000)
    h.add(y, p)
    assert h.auc() == auc(y, p) == 0.875


def test_histograms_of_parts_merge_into_the_histogram_of_the_whole():
    rng = np.random.default_rng(1)
    p, y = rng.random(1000), rng.integers(0, 2, 1000)
    whole, a, b = ScoreHistogram(), ScoreHistogram(), ScoreHistogram()
    whole.add(y, p)
    a.add(y[:300], p[:300])
    b.add(y[300:], p[300:])
    merged = a.merge(b)
    assert merged.auc() == whole.auc() and merged.log_loss() == pytest.approx(whole.log_loss())
    with pytest.raises(ValueError, match="bins"):
        ScoreHistogram(10).merge(ScoreHistogram(20))


def test_one_class_has_no_auc():
    h = ScoreHistogram(100)
    h.add(np.ones(3), np.array([0.1, 0.2, 0.3]))
    assert np.isnan(h.auc())
