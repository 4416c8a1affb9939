"""The impression log: what was served, written off the request path.

A scored request hands its rows to :meth:`EventLog.log_impressions` — one append to a bounded
in-memory queue, no I/O, no serialisation. A writer thread drains the queue every
``flush_seconds``, turns each request into JSON lines (one per row), and writes them to a sink:
daily segment files (``app.feedback.segments``) or a Redis stream (``app.feedback.stream``). When
the queue holds ``max_rows`` rows, new rows are dropped and counted, never waited for; a sink that
fails (disk full, Redis down) drops the batch, counts it and keeps going. On shutdown the queue is
drained and the last segments made visible.

One impression line::

    {"request_id": "4f1c...", "row": 0, "ts": 1764756000.123, "model_version": "2026...", "probability": 0.74,
     "fields": {"user_id": 196, "item_id": 242, ...},             # the raw fields as received
     "shadow_version": "...", "shadow_probability": 0.71}          # when a shadow model scored the row
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import orjson

from app.metrics import Metrics

log = logging.getLogger("app")


class Sink(Protocol):
    def write(self, stream: str, day: str, data: bytes) -> None: ...

    def rotate(self, force: bool = False) -> None: ...

    def close(self) -> None: ...


@dataclass
class Impressions:
    """The rows of one scored request, as the handler has them (turned into lines by the writer thread)."""

    request_id: str
    ts: float
    version: str
    records: list[Any] | None
    columns: dict[str, list[Any]] | None
    probabilities: np.ndarray
    shadow_version: str | None = None
    shadow_probabilities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.probabilities)

    def lines(self, keep: np.ndarray | None = None) -> bytes:
        if self.records is not None:
            fields = self.records
        else:
            assert self.columns is not None
            names = list(self.columns)
            fields = [dict(zip(names, row, strict=True)) for row in zip(*self.columns.values(), strict=True)]
        rows = range(len(self)) if keep is None else np.flatnonzero(keep).tolist()
        out = []
        for i in rows:
            line: dict[str, Any] = {"request_id": self.request_id, "row": i, "ts": self.ts,
                                    "model_version": self.version, "probability": float(self.probabilities[i]),
                                    "fields": fields[i]}  # fmt: skip
            if self.shadow_probabilities is not None:
                line["shadow_version"] = self.shadow_version
                line["shadow_probability"] = float(self.shadow_probabilities[i])
            out.append(orjson.dumps(line))
        return b"\n".join(out) + b"\n" if out else b""


@dataclass
class Feedback:
    """Events of one /v1/feedback request, already validated: dicts of request_id, row, clicked, ts."""

    events: list[dict[str, Any]]
    received: float

    def __len__(self) -> int:
        return len(self.events)

    def lines(self, keep: np.ndarray | None = None) -> bytes:
        return b"".join(orjson.dumps({**event, "received": self.received}) + b"\n" for event in self.events)


STREAMS = {Impressions: "impressions", Feedback: "feedback"}


class EventLog:
    def __init__(self, sink: Sink, metrics: Metrics, max_rows: int, sample: float, flush_seconds: float = 0.2,
                 seed: int | None = None) -> None:  # fmt: skip
        self.sink, self.metrics = sink, metrics
        self.max_rows, self.sample, self.flush_seconds = max_rows, sample, flush_seconds
        self._queue: deque[Impressions | Feedback] = deque()
        self._queued_rows = 0
        self._lock = threading.Lock()  # guards _queued_rows between the event loop and the writer
        self._stop = threading.Event()
        self._rng = np.random.default_rng(seed)
        self._thread = threading.Thread(target=self._run, name="impression-log", daemon=True)
        self._thread.start()

    # -- the request path: O(1), no I/O --------------------------------------------------------
    def log_impressions(self, item: Impressions) -> None:
        self._put(item, "impressions")

    def log_feedback(self, item: Feedback) -> bool:
        """False when the queue is full (the caller answers 503: feedback must not be dropped silently)."""
        return self._put(item, "feedback")

    def _put(self, item: Impressions | Feedback, stream: str) -> bool:
        n = len(item)
        with self._lock:
            if self._queued_rows + n > self.max_rows or self._stop.is_set():
                full = True
            else:
                full = False
                self._queued_rows += n
                self._queue.append(item)
        if full:
            self.metrics.logged_rows_dropped.labels(stream, "queue_full").inc(n)
        return not full

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    # -- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._drain()
        while self._queue:  # stopped: what was accepted is written, however late it was appended
            self._drain()

    def _drain(self) -> None:
        batches: dict[tuple[str, str], list[bytes]] = {}
        counts: dict[tuple[str, str], int] = {}
        # Rows stay counted against max_rows until written: what a killed process loses is bounded by the
        # queue's size, the rows being written included. One drain takes what was queued when it began.
        taken_rows = 0
        for _ in range(len(self._queue)):
            item = self._queue.popleft()
            taken_rows += len(item)
            keep = None
            if isinstance(item, Impressions) and self.sample < 1.0:
                keep = self._rng.random(len(item)) < self.sample
            data = item.lines(keep)
            if not data:
                continue
            key = (STREAMS[type(item)], time.strftime("%Y-%m-%d", time.gmtime(_ts(item))))
            batches.setdefault(key, []).append(data)
            counts[key] = counts.get(key, 0) + (len(item) if keep is None else int(keep.sum()))
        for (stream, day), parts in batches.items():
            data = b"".join(parts)
            try:
                self.sink.write(stream, day, data)
            except Exception as exc:  # disk full, Redis away: the server keeps scoring, the rows are counted
                self.metrics.logged_rows_dropped.labels(stream, "write_error").inc(counts[(stream, day)])
                log.warning("%s: %d rows not written: %s", stream, counts[(stream, day)], exc)
                continue
            self.metrics.logged_rows.labels(stream).inc(counts[(stream, day)])
            self.metrics.logged_bytes.labels(stream).inc(len(data))
        with self._lock:
            self._queued_rows -= taken_rows
        try:
            self.sink.rotate()
        except OSError as exc:
            log.warning("rotating log segments failed: %s", exc)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking rows, write what is queued, make every segment visible."""
        self._stop.set()
        self._thread.join(timeout)
        self.sink.close()


def _ts(item: Impressions | Feedback) -> float:
    return item.ts if isinstance(item, Impressions) else item.received
