import itertools

import numpy as np
import pytest

from contract.metrics import auc, calibration, log_loss


def brute_auc(y, p):
    pos = [s for s, t in zip(p, y, strict=True) if t == 1]
    neg = [s for s, t in zip(p, y, strict=True) if t == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pair_counting_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    p = rng.integers(0, 8, 60) / 8  # many ties
    assert auc(y, p) == pytest.approx(brute_auc(y, p), abs=1e-12)


def test_auc_edge_cases():
    assert auc(np.array([0, 1]), np.array([0.1, 0.9])) == 1.0
    assert auc(np.array([1, 0]), np.array([0.1, 0.9])) == 0.0
    assert np.isnan(auc(np.array([1, 1]), np.array([0.1, 0.9])))


def test_log_loss_and_calibration():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.8, 0.3])
    assert log_loss(y, p) == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.8, 0.7])))
    perfect = calibration(np.array([0, 0, 1, 1]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert perfect["ece"] == 0.0
    off = calibration(np.array([0, 0, 0, 0]), np.array([0.95, 0.95, 0.95, 0.95]))
    assert off["ece"] == pytest.approx(0.95)


def test_psi_is_zero_for_one_population_and_grows_with_the_shift():
    from contract.metrics import population_stability, psi_from_counts

    rng = np.random.default_rng(0)
    base = 1 / (1 + np.exp(-rng.normal(0, 1, 20_000)))
    same = 1 / (1 + np.exp(-rng.normal(0, 1, 20_000)))
    shifted = 1 / (1 + np.exp(-rng.normal(1.0, 1, 20_000)))
    assert population_stability(base, same) < 0.01
    assert population_stability(base, shifted) > 0.25
    assert np.isnan(psi_from_counts(np.zeros(3), np.ones(3)))
