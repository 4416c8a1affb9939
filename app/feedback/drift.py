"""Drift: is the traffic still the population the model was validated on?

Training stores a reference in the manifest (``training.export.reference_stats``): the model's score
histogram on the validation split, in the served histogram's log-odds buckets, and each field's OOV
rate. Every ``CTR_DRIFT_SECONDS`` the monitor snapshots what this worker served — the active
version's ``ctr_served_probability`` buckets, ``ctr_oov_rows_total{field}`` and scored rows — and
over the last ``CTR_DRIFT_WINDOW_SECONDS`` sets:

* ``ctr_drift_psi{version}``: the population stability index of served against reference scores
  (< 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 a different population);
* ``ctr_drift_oov_ratio{field}``: the window's OOV rate over the reference's (1 = as trained);
* ``ctr_drift_window_rows``: rows in the window. Below ``CTR_DRIFT_MIN_ROWS`` the gauges read NaN:
  a handful of requests says nothing about a population.

With several workers each computes its own window (every worker sees a share of the same traffic);
Prometheus keeps the largest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.metrics import Metrics
from contract.metrics import psi_from_counts

log = logging.getLogger("app")
OOV_RATE_FLOOR = 1e-3  # a field never unseen in validation: a ratio over 0.1% rather than over zero


@dataclass(frozen=True)
class _Snapshot:
    version: str
    served: np.ndarray  # bucket counts of the version's served histogram
    oov: np.ndarray  # OOV rows per field
    rows: float  # /v1/score rows


class DriftMonitor:
    def __init__(self, metrics: Metrics, current: Callable[[], Any], every: float, window: float, min_rows: int):
        self.metrics, self.current = metrics, current
        self.every, self.min_rows = every, min_rows
        self.snapshots: deque[_Snapshot] = deque(maxlen=max(2, int(window / every) + 1))
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                self.update()
            except Exception:  # a bug here must not end drift monitoring for the life of the process
                log.exception("drift update failed")

    def update(self) -> None:
        """Take a snapshot and set the gauges from the window it closes (cheap: a few small arrays)."""
        model = self.current()
        reference = (model.manifest.get("reference") if model is not None else None) or None
        if model is None or reference is None:
            return
        fields = model.field_names
        snapshot = _Snapshot(model.version, np.asarray(self.metrics.served.labels(model.version).counts, np.float64),
                             np.array([self.metrics.oov_rows.labels(f).value for f in fields], np.float64),
                             float(self.metrics.scored_rows.labels("/v1/score").value))  # fmt: skip
        if not self.snapshots or self.snapshots[-1].version != snapshot.version:
            # A version's served counts start at zero, so its whole traffic is in the window; the
            # per-field counters are the process's (zero at start-up, their value at a swap).
            swapped = bool(self.snapshots)
            self.snapshots.clear()
            zero = np.zeros_like(snapshot.oov)
            self.snapshots.append(
                _Snapshot(
                    snapshot.version,
                    np.zeros_like(snapshot.served),
                    snapshot.oov if swapped else zero,
                    snapshot.rows if swapped else 0.0,
                )
            )
        self.snapshots.append(snapshot)
        first = self.snapshots[0]
        rows = snapshot.rows - first.rows
        served = snapshot.served - first.served
        enough = served.sum() >= self.min_rows
        self.metrics.drift_window_rows.set(float(served.sum()))
        psi = psi_from_counts(np.asarray(reference["score_buckets"], np.float64), served) if enough else float("nan")
        self.metrics.drift_psi.labels(model.version).set(psi)
        rates = reference.get("oov_rate", {})
        for j, field in enumerate(fields):
            if field not in rates:
                continue
            if enough and rows > 0:
                ratio = ((snapshot.oov[j] - first.oov[j]) / rows) / max(rates[field], OOV_RATE_FLOOR)
            else:
                ratio = float("nan")
            self.metrics.drift_oov_ratio.labels(field).set(ratio)
