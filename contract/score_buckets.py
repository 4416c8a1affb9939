"""Fixed log-odds buckets of served probabilities, shared by the server's histogram and training.

The server exports ``ctr_served_probability`` per model version with these buckets, and the drift
check compares it with a reference histogram computed at training time over the same edges: both
sides must bucket identically, so the edges and the counting live here (numpy only).

Edges are logits -6, -5.5, ..., 6 (25 edges, 26 buckets with the one above 6). A probability p
falls in the first bucket whose edge e satisfies logit(p) <= e, i.e. p <= sigmoid(e); Prometheus
shows the buckets as ``le = sigmoid(e)`` (0.00247, 0.00407, ..., 0.5, ..., 0.99753, +Inf). Log-odds
spacing gives the tails of a CTR distribution (p of 0.5% or 99%) their own buckets, which equal
steps in probability would lump together. Buckets are decided on the model's float32 logit.
"""

from __future__ import annotations

import numpy as np

LOGIT_EDGES: tuple[float, ...] = tuple(float(e) for e in np.arange(-6.0, 6.0 + 0.25, 0.5))
PROBABILITY_EDGES: tuple[float, ...] = tuple(float(1.0 / (1.0 + np.exp(-e))) for e in LOGIT_EDGES)
# The edges are exact in float32 (multiples of 0.5): logits are compared in their own dtype, no cast.
_EDGES = {np.dtype(np.float32): np.asarray(LOGIT_EDGES, np.float32), np.dtype(np.float64): np.asarray(LOGIT_EDGES)}


def bucket_counts(logits: np.ndarray) -> np.ndarray:
    """Observations per bucket, shape (len(LOGIT_EDGES) + 1,): the last bucket holds logits above 6.

    Bucket i counts logits in (edge[i-1], edge[i]] — Prometheus' ``le`` semantics.
    """
    logits = np.asarray(logits).reshape(-1)
    edges = _EDGES.get(logits.dtype)
    if edges is None:
        logits, edges = logits.astype(np.float64), _EDGES[np.dtype(np.float64)]
    return np.bincount(np.searchsorted(edges, logits, side="left"), minlength=len(LOGIT_EDGES) + 1)
