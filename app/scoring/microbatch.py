"""Micro-batching: concurrent small /v1/score requests share one onnxruntime call (CTR_MICROBATCH_MAX_ROWS).

A request's gathered rows wait in a queue until the queue holds ``max_rows`` rows or ``max_delay``
has passed since the first of them arrived; then one ``np.concatenate`` and one ``session.run`` score
the whole queue and each waiter gets its own slice of the result. A batcher belongs to one
:class:`~app.scoring.model.ScoringModel`, so one run never mixes model versions.

Everything happens on the event loop thread: the run takes tens of µs (decisions #18), and no task
is created. The timer is a loop callback (``call_later``), cancelled by :meth:`MicroBatcher.close`.
``max_delay`` is a minimum: a busy loop runs the timer only after the callbacks already due, so under
load a request also waits for the other requests the loop is handling (``max_delay`` 0 merges just
those). ``ctr_microbatch_queue_duration_seconds`` shows the wait actually paid.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.metrics import Metrics
from app.scoring.scorer import Scores

Run = Callable[[np.ndarray, np.ndarray], Scores]  # (rows (B, S, K+1), values (B, S)) -> Scores


@dataclass
class _Waiter:
    rows: np.ndarray  # (B, S, K+1) float32
    values: np.ndarray  # (B, S) float32
    future: asyncio.Future[Scores]
    queued_at: float  # perf_counter() when it joined the queue


class MicroBatcher:
    """Merges concurrent :meth:`infer` calls into one ``run``; off unless ``max_rows`` > 0.

    - a batch never exceeds ``max_rows``; a request that would overflow the queue flushes it first,
      and a request of more than ``max_rows`` rows runs alone, at once;
    - an exception from ``run`` is raised in every waiter of that batch;
    - a cancelled waiter is dropped from its batch, the others are unaffected;
    - after :meth:`close` (the model was swapped out), queued requests are scored at once and later
      ones run unbatched: a request that took the old model before a swap still finishes with it.
    """

    def __init__(self, run: Run, max_rows: int, max_delay_s: float, metrics: Metrics | None = None) -> None:
        if max_rows < 1 or max_delay_s < 0:
            raise ValueError("max_rows must be >= 1 and max_delay_s >= 0")
        self._run = run
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self._metrics = metrics
        self._queue: list[_Waiter] = []
        self._queued_rows = 0  # rows of every queued waiter, cancelled ones included until the flush
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    async def infer(self, rows: np.ndarray, values: np.ndarray) -> Scores:
        """Score ``rows`` (B, S, K+1) with ``values`` (B, S), possibly in one run with other requests."""
        n = len(rows)
        if self.closed or n == 0 or n > self.max_rows:
            return self._timed_run(rows, values)
        if self._queued_rows + n > self.max_rows:
            self.flush()  # keep every batch within max_rows
        loop = asyncio.get_running_loop()
        waiter = _Waiter(rows, values, loop.create_future(), time.perf_counter())
        self._queue.append(waiter)
        self._queued_rows += n
        if self._queued_rows >= self.max_rows:
            self.flush()  # resolves our own future too: the await below returns without yielding
        elif self._timer is None:
            self._timer = loop.call_later(self.max_delay_s, self._on_timer)
        return await waiter.future

    def flush(self) -> None:
        """Score every queued request now, in one run."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        queue, self._queue, self._queued_rows = self._queue, [], 0
        live = [w for w in queue if not w.future.done()]  # a cancelled waiter's rows are not scored
        if not live:
            return
        started = time.perf_counter()
        try:
            if len(live) == 1:
                scores = self._timed_run(live[0].rows, live[0].values)
            else:
                rows = np.concatenate([w.rows for w in live])  # (sum B, S, K+1)
                values = np.concatenate([w.values for w in live])  # (sum B, S)
                scores = self._timed_run(rows, values)
        except Exception as exc:  # every waiter of the batch sees the failure, none hangs
            for w in live:
                w.future.set_exception(exc)
            return
        self._record(live, started)
        start = 0
        for w in live:
            end = start + len(w.rows)
            w.future.set_result(Scores(scores.probabilities[start:end], scores.logits[start:end]))
            start = end

    def close(self) -> None:
        """Score what is queued, cancel the timer, and let later requests run unbatched."""
        self.closed = True
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def _timed_run(self, rows: np.ndarray, values: np.ndarray) -> Scores:
        started = time.perf_counter()
        scores = self._run(rows, values)
        if self._metrics is not None:
            self._metrics.microbatch_run_seconds.observe(time.perf_counter() - started)
        return scores

    def _record(self, batch: list[_Waiter], started: float) -> None:
        if self._metrics is None:
            return
        m = self._metrics
        for w in batch:
            m.microbatch_queue_seconds.observe(started - w.queued_at)
        m.microbatch_rows.observe(sum(len(w.rows) for w in batch))
        m.microbatch_runs.inc()
