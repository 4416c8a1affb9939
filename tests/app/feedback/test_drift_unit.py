"""DriftMonitor's window arithmetic: PSI against the reference, OOV ratios, NaN below the minimum, swaps."""

import math
from types import SimpleNamespace

import numpy as np

from app.feedback.drift import DriftMonitor
from app.metrics import Metrics
from contract.score_buckets import LOGIT_EDGES

BUCKETS = len(LOGIT_EDGES) + 1


def model(version: str, reference_buckets, oov_rate):
    manifest = {"reference": {"rows": 1000, "score_buckets": reference_buckets, "oov_rate": oov_rate}}
    return SimpleNamespace(version=version, manifest=manifest, field_names=("user", "item"))


def serve(metrics: Metrics, version: str, logits, oov_user: int) -> None:
    logits = np.asarray(logits, np.float32)
    metrics.record_served(version, logits, 1 / (1 + np.exp(-logits)))
    metrics.scored_rows.labels("/v1/score").inc(len(logits))
    metrics.oov_rows.labels("user").inc(oov_user)


def gauge(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def test_psi_oov_ratio_and_the_minimum():
    metrics = Metrics()
    reference = np.zeros(BUCKETS)
    reference[12] = 1000  # every validation score in one bucket (logit in (-0.5, 0])
    current = model("v1", reference.tolist(), {"user": 0.1, "item": 0.0})
    monitor = DriftMonitor(metrics, lambda: current, every=1, window=60, min_rows=100)
    serve(metrics, "v1", [-0.25] * 50, oov_user=5)
    monitor.update()
    assert math.isnan(gauge(metrics, "ctr_drift_psi", version="v1"))  # 50 rows < 100: no verdict
    serve(metrics, "v1", [-0.25] * 150, oov_user=15)
    monitor.update()
    assert gauge(metrics, "ctr_drift_psi", version="v1") < 1e-6  # the reference's own distribution
    assert abs(gauge(metrics, "ctr_drift_oov_ratio", field="user") - 1.0) < 1e-9  # 20/200 over 0.1
    assert gauge(metrics, "ctr_drift_oov_ratio", field="item") == 0.0
    serve(metrics, "v1", [3.25] * 800, oov_user=600)
    monitor.update()
    assert gauge(metrics, "ctr_drift_psi", version="v1") > 1.0
    assert abs(gauge(metrics, "ctr_drift_oov_ratio", field="user") - 6.2) < 1e-9  # 620/1000 over 0.1


def test_a_swap_restarts_the_window_with_the_new_version():
    metrics = Metrics()
    reference = np.zeros(BUCKETS)
    reference[12] = 1000
    current = model("v1", reference.tolist(), {"user": 0.1})
    monitor = DriftMonitor(metrics, lambda: current, every=1, window=60, min_rows=10)
    serve(metrics, "v1", [3.25] * 100, oov_user=0)
    monitor.update()
    current = model("v2", reference.tolist(), {"user": 0.1})
    serve(metrics, "v2", [-0.25] * 100, oov_user=10)
    monitor.update()
    assert gauge(metrics, "ctr_drift_psi", version="v2") < 1e-6  # v1's skewed rows are not v2's window
    assert gauge(metrics, "ctr_drift_window_rows") == 100
