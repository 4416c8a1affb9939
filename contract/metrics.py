"""Offline metrics in numpy, shared by training, the nightly job and the server: AUC, log loss, calibration."""

from __future__ import annotations

import numpy as np

from contract.score_buckets import bucket_counts

_EPS = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average rank within each run of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    average = (starts + ends + 1) / 2.0  # 1-based average rank of each run
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy; probabilities are clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _EPS, 1 - _EPS)
    y = np.asarray(labels, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Expected calibration error over equal-width bins, with the per-bin table for a reliability plot."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    mean_p = np.bincount(which, weights=p, minlength=bins) / np.maximum(count, 1)
    rate = np.bincount(which, weights=y, minlength=bins) / np.maximum(count, 1)
    ece = float((count / max(len(p), 1) * np.abs(mean_p - rate)).sum())
    return {"ece": ece, "count": count.tolist(), "mean_probability": mean_p.tolist(), "positive_rate": rate.tolist()}


def psi_from_counts(reference: np.ndarray, served: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index sum((s - r) ln(s / r)) of two bucket-count vectors (shares floored at ``floor``).

    Rule of thumb: < 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 a different population.
    """
    r = np.asarray(reference, dtype=np.float64)
    s = np.asarray(served, dtype=np.float64)
    if r.sum() == 0 or s.sum() == 0:
        return float("nan")
    r = np.maximum(r / r.sum(), floor)
    s = np.maximum(s / s.sum(), floor)
    return float(np.sum((s - r) * np.log(s / r)))


def population_stability(reference: np.ndarray, served: np.ndarray) -> float:
    """PSI between two sets of probabilities, over the served-probability histogram's fixed log-odds buckets."""
    return psi_from_counts(bucket_counts(_logits(reference)), bucket_counts(_logits(served)))


def _logits(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))
