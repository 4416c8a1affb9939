"""AUC and log loss of a stream of predictions, in bounded memory and mergeable across workers.

Predictions are counted into ``bins`` equal-width probability bins, positives and negatives apart, and
the log loss is summed: memory is fixed whatever the number of rows, and the counts of two workers (or
two shards) add up to the counts of their union, so a distributed evaluation is one all-reduce.

AUC from the bins counts a positive and a negative in the same bin as half a correct pair, as the exact
Mann-Whitney statistic does for tied scores; pairs that are merely close in score are the only error,
bounded by :meth:`ScoreHistogram.auc_error_bound` (reported beside the AUC; ~1e-6 at the default 2**20
bins on our data, tests/training/stream/test_histogram.py checks it against ``contract.metrics.auc``).
"""

from __future__ import annotations

import numpy as np

DEFAULT_BINS = 1 << 20
_EPS = 1e-7  # probabilities are clipped as contract.metrics.log_loss does


class ScoreHistogram:
    """Counts of binary labels per probability bin and the summed log loss."""

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        self.bins = bins
        self.positives = np.zeros(bins, dtype=np.int64)
        self.negatives = np.zeros(bins, dtype=np.int64)
        self.loss_sum = 0.0

    @property
    def rows(self) -> int:
        return int(self.positives.sum() + self.negatives.sum())

    def add(self, labels: np.ndarray, probabilities: np.ndarray) -> None:
        """Count rows with labels in {0, 1} (n,) and predicted probabilities (n,)."""
        p = np.asarray(probabilities, dtype=np.float64)
        y = np.asarray(labels) > 0.5
        which = np.minimum((p * self.bins).astype(np.int64), self.bins - 1)
        self.positives += np.bincount(which[y], minlength=self.bins)
        self.negatives += np.bincount(which[~y], minlength=self.bins)
        clipped = np.clip(p, _EPS, 1 - _EPS)
        self.loss_sum += float(-np.where(y, np.log(clipped), np.log1p(-clipped)).sum())

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        if other.bins != self.bins:
            raise ValueError(f"cannot merge histograms of {other.bins} and {self.bins} bins")
        self.positives += other.positives
        self.negatives += other.negatives
        self.loss_sum += other.loss_sum
        return self

    def auc(self) -> float:
        """Area under the ROC curve (NaN without both classes)."""
        pos, neg = self.positives.astype(np.float64), self.negatives.astype(np.float64)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg  # negatives in lower bins
        return float(((pos * below).sum() + 0.5 * (pos * neg).sum()) / (n_pos * n_neg))

    def auc_error_bound(self) -> float:
        """Largest possible |binned AUC − exact AUC|: half the share of (positive, negative) pairs sharing a bin."""
        n_pos, n_neg = float(self.positives.sum()), float(self.negatives.sum())
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        return float(0.5 * (self.positives.astype(np.float64) * self.negatives).sum() / (n_pos * n_neg))

    def log_loss(self) -> float:
        return self.loss_sum / self.rows if self.rows else float("nan")

    def positive_rate(self) -> float:
        return float(self.positives.sum() / self.rows) if self.rows else float("nan")

    def ece(self, bins: int = 10) -> float:
        """Expected calibration error over ``bins`` equal-width bins (as ``contract.metrics.calibration``),
        taking each fine bin's centre as its predictions' mean (off by at most half a fine bin)."""
        if not self.rows:
            return float("nan")
        centres = (np.arange(self.bins) + 0.5) / self.bins
        coarse = np.minimum((centres * bins).astype(np.int64), bins - 1)
        fine = (self.positives + self.negatives).astype(np.float64)
        count = np.bincount(coarse, weights=fine, minlength=bins)
        mean_p = np.bincount(coarse, weights=fine * centres, minlength=bins) / np.maximum(count, 1)
        rate = np.bincount(coarse, weights=self.positives.astype(np.float64), minlength=bins) / np.maximum(count, 1)
        return float((count / self.rows * np.abs(mean_p - rate)).sum())

    def summary(self) -> dict[str, float]:
        return {"auc": self.auc(), "logloss": self.log_loss(), "rows": self.rows,
                "positive_rate": self.positive_rate(), "auc_error_bound": self.auc_error_bound()}  # fmt: skip
