"""Cheap counters and histograms for the request path, exported through prometheus_client.

Why not prometheus_client's own ``Counter.inc`` / ``Histogram.observe`` on the hot path: each takes
a lock per value it touches; on this machine they cost 0.34 µs and 1.35 µs, 1.25 µs and 2.4 µs in
multiprocess mode (an mmap write under a global lock; reports/metrics_cost.json). A request records
a dozen values (HTTP count and duration, five stages, rows, served probabilities, OOV fields), about
a tenth of a ~100 µs single-record request. Here a value is a Python ``int``/``float`` in a list:
``observe`` is one ``bisect`` and two additions (0.14 µs).

Two ways out, one per process model (decision 29):

* one worker: :class:`CheapCollector` is registered in the app's registry and turns the lists
  into Prometheus counter/histogram families at scrape time;
* several workers (``PROMETHEUS_MULTIPROC_DIR`` set by ``ctr serve``): each family also owns a
  prometheus_client metric of the same name, whose values live in the worker's mmap files;
  :meth:`CheapCollector.flush` adds what was recorded since the last flush to them (every
  ``CTR_METRICS_FLUSH_SECONDS`` and before each scrape), and prometheus_client's
  ``MultiProcessCollector`` sums the files of all workers. Scraped totals lag by at most one
  flush period; nothing is lost or counted twice (tests/app/test_multiworker_metrics.py).

Values are recorded on the event loop thread only (handlers record after their ``await``), so the
unlocked additions never race.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString


class CheapCounter:
    """One labelled counter value (``inc`` as prometheus_client's)."""

    __slots__ = ("flushed", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.flushed = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class CheapHistogram:
    """One labelled histogram: per-bucket counts (last bucket = +Inf) and the sum of observed values."""

    __slots__ = ("bounds", "counts", "flushed_counts", "flushed_sum", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds  # ascending upper bounds without +Inf; a value v goes to the first bound >= v
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.flushed_counts = [0] * (len(bounds) + 1)
        self.flushed_sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def add(self, bucket_counts: np.ndarray, total: float) -> None:
        """Add many observations at once: ``bucket_counts`` (len(bounds) + 1,) and their sum."""
        self.counts = [a + b for a, b in zip(self.counts, bucket_counts.tolist(), strict=True)]
        self.sum += total


class _Family:
    """Children by label values, like a prometheus_client metric with labels."""

    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.children: dict[tuple[str, ...], Any] = {}
        self.backing: Any = None  # the prometheus_client metric flushed into (multiprocess mode)

    def labels(self, *values: str) -> Any:
        child = self.children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
            child = self.children[values] = self._new_child()
        return child

    def _new_child(self) -> Any:
        raise NotImplementedError


class CheapCounterFamily(_Family):
    kind = "counter"

    def _new_child(self) -> CheapCounter:
        return CheapCounter()

    def inc(self, amount: float = 1.0) -> None:
        """Unlabelled use."""
        self.labels().inc(amount)

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, child in self.children.items():
            family.add_metric(list(values), child.value)
        return family

    def flush(self) -> None:
        for values, child in self.children.items():
            delta, child.flushed = child.value - child.flushed, child.value
            target = self.backing.labels(*values) if values else self.backing
            target.inc(delta)  # also for 0: the series exists in the files from the start


class CheapHistogramFamily(_Family):
    """A histogram family; ``le_labels`` may differ from ``bounds`` (served probabilities are
    bucketed on the logit but exported with the probabilities of those logits as ``le``)."""

    kind = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float],
                 le_labels: Sequence[float] | None = None) -> None:  # fmt: skip
        super().__init__(name, documentation, labelnames)
        self.bounds = tuple(bounds)
        self.le = tuple(le_labels if le_labels is not None else bounds)

    def _new_child(self) -> CheapHistogram:
        return CheapHistogram(self.bounds)

    def observe(self, value: float) -> None:
        """Unlabelled use."""
        self.labels().observe(value)

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        les = [floatToGoString(b) for b in self.le] + ["+Inf"]
        for values, child in self.children.items():
            cumulative, running = [], 0
            for le, count in zip(les, child.counts, strict=True):
                running += count
                cumulative.append((le, running))
            family.add_metric(list(values), cumulative, child.sum)
        return family

    def flush(self) -> None:
        for values, child in self.children.items():
            target = self.backing.labels(*values) if values else self.backing
            # prometheus_client keeps one value per bucket (non-cumulative) in ``_buckets`` and the
            # sum in ``_sum``; adding deltas to them is exactly what ``observe`` would have done.
            for i, (now, before) in enumerate(zip(child.counts, child.flushed_counts, strict=True)):
                if now != before:
                    target._buckets[i].inc(now - before)
            target._sum.inc(child.sum - child.flushed_sum)
            child.flushed_counts, child.flushed_sum = list(child.counts), child.sum


class CheapCollector(Collector):
    """All cheap families of one app; a prometheus_client collector in single-process mode."""

    def __init__(self) -> None:
        self.families: list[CheapCounterFamily | CheapHistogramFamily] = []
        self.multiprocess = False

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> CheapCounterFamily:
        return self._add(CheapCounterFamily(name, documentation, labelnames))

    def histogram(self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float],
                  le_labels: Sequence[float] | None = None) -> CheapHistogramFamily:  # fmt: skip
        return self._add(CheapHistogramFamily(name, documentation, labelnames, bounds, le_labels))

    def _add(self, family: Any) -> Any:
        self.families.append(family)
        if not family.labelnames:
            family.labels()  # an unlabelled series is exported (as 0) before anything is recorded
        if self.multiprocess:
            self._back(family)
        return family

    def use_multiprocess_files(self) -> None:
        """Back every family with a prometheus_client metric (mmap files); call before recording."""
        self.multiprocess = True
        for family in self.families:
            self._back(family)

    @staticmethod
    def _back(family: Any) -> None:
        private = CollectorRegistry()  # the files are what counts; this registry is never scraped
        base = family.name.removesuffix("_total")
        if family.kind == "counter":
            family.backing = Counter(base, family.documentation, family.labelnames, registry=private)
        else:
            family.backing = Histogram(base, family.documentation, family.labelnames, buckets=family.le,
                                       registry=private)  # fmt: skip

    def flush(self) -> None:
        """Multiprocess mode: move what was recorded since the last flush into this worker's files."""
        if self.multiprocess:
            for family in self.families:
                family.flush()

    def collect(self) -> Iterator[Metric]:
        if not self.multiprocess:  # in multiprocess mode the files are collected instead
            for family in self.families:
                yield family.collect()
