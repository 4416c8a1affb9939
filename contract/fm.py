"""Reference FM arithmetic in numpy, shared by the server (ranking, explanations) and tests.

logit = w0 + sum_s w[s]·x_s + ½ sum_k [(sum_s x_s·v[s,k])² - sum_s (x_s·v[s,k])²]

``rows`` are gathered table rows: column 0 the linear weight, columns 1.. the embedding.
"""

from __future__ import annotations

import numpy as np


def fm_logit(rows: np.ndarray, values: np.ndarray, bias: float) -> np.ndarray:
    """Logits (B,) from rows (B, M, K+1) and values (B, M), computed in float64."""
    rows = rows.astype(np.float64)
    x = values.astype(np.float64)
    linear = np.einsum("bm,bm->b", rows[..., 0], x)
    xv = rows[..., 1:] * x[..., None]  # (B, M, K)
    summed = xv.sum(axis=1)  # (B, K)
    pairwise = 0.5 * ((summed * summed).sum(axis=1) - (xv * xv).sum(axis=(1, 2)))
    return bias + linear + pairwise


def sigmoid(logit: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logit))
