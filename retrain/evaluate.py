"""Both models judged the same way: raw holdout rows -> each model's own encoder -> the FM -> metrics."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from contract.encoding import FeatureEncoder
from contract.fm import fm_logit, sigmoid
from contract.metrics import auc, calibration, log_loss

CHUNK = 65_536  # rows scored at once: bounds the (rows, slots, K+1) gather


def holdout_metrics(
    encoder: FeatureEncoder, table: np.ndarray, bias: float, columns: Mapping[str, np.ndarray], labels: np.ndarray
) -> dict[str, float]:
    """AUC, log loss and ECE of the model (``table`` (V, K+1), ``bias``) on raw rows (``columns``) and labels.

    The reference FM arithmetic of ``contract.fm`` in float64: what onnxruntime serves, within 1e-5.
    """
    n = len(labels)
    probabilities = np.empty(n, np.float64)
    for start in range(0, n, CHUNK):
        part = {name: values[start : start + CHUNK] for name, values in columns.items()}
        batch = encoder.encode_columns(part, min(CHUNK, n - start))
        probabilities[start : start + CHUNK] = sigmoid(fm_logit(table[batch.ids], batch.values, bias))
    return {
        "auc": auc(labels, probabilities),
        "logloss": log_loss(labels, probabilities),
        "ece": float(calibration(labels, probabilities)["ece"]),
        "rows": n,
        "positive_rate": float(np.mean(labels)) if n else float("nan"),
    }
