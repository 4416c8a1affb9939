"""Fitting an encoder's state on training data: value counts, vocabularies and numeric boundaries.

Counting is streamed chunk by chunk, so the data never has to fit in memory, and counts are
*mergeable*: counts of disjoint parts of the data (files, shards, the shards of each distributed rank)
merged with :meth:`ValueCounts.merge` equal the counts of the whole, so the counting pass can run in
parallel. What a field keeps grows with its distinct values, never with its rows:

* categorical values: a ``Counter`` of canonical strings, plus, for integer columns (numpy arrays of
  ints, or floats with NaN for missing values, as Parquet and pandas deliver them), an
  :class:`IntegerTally` counted with ``np.unique``: no per-row Python loop;
* numeric fields: nothing with fixed ``boundaries``, the largest value with ``log = true``, and every
  value only for quantile ``buckets`` (quantiles need them all: a streaming job should use ``log`` or
  ``boundaries``, see :meth:`ValueCounts.row_bound`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from contract.schema import FieldSpec
from contract.values import EncodingError, ValueParser, integer_column, numeric_column

_COMPACT_PARTS = 16  # pending per-chunk tallies merged into one sorted pair once this many accumulate


class IntegerTally:
    """Counts of int64 values as (sorted distinct values, counts); chunks append, merges concatenate."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray) -> None:
        """Count one array of int64 values."""
        if len(values):
            distinct, counts = np.unique(values, return_counts=True)
            self._append(distinct, counts.astype(np.int64))

    def merge(self, other: IntegerTally) -> None:
        """Add another tally's counts to this one."""
        for distinct, counts in other._parts:
            self._append(distinct, counts)

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct values (D,) int64 ascending, their counts (D,) int64)."""
        self._compact()
        return self._parts[0] if self._parts else (np.empty(0, np.int64), np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.counts()[0])

    def _append(self, distinct: np.ndarray, counts: np.ndarray) -> None:
        self._parts.append((distinct, counts))
        if len(self._parts) >= _COMPACT_PARTS:
            self._compact()

    def _compact(self) -> None:
        if len(self._parts) <= 1:
            return
        values = np.concatenate([v for v, _ in self._parts])
        counts = np.concatenate([c for _, c in self._parts])
        order = np.argsort(values, kind="stable")
        values, counts = values[order], counts[order]
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        self._parts = [(values[starts], np.add.reduceat(counts, starts))]


class ValueCounts:
    """What fitting needs from the training data, per field (module docstring). Filled chunk by chunk
    with :meth:`add`, combined with :meth:`merge`; bad values raise :class:`EncodingError`."""

    def __init__(self, specs: Sequence[FieldSpec]) -> None:
        self.specs = tuple(specs)
        categorical = [s for s in specs if s.kind != "numeric"]
        self.values: dict[str, Counter[str]] = {s.name: Counter() for s in categorical}
        self.integers: dict[str, IntegerTally] = {s.name: IntegerTally() for s in categorical}
        self.numbers: dict[str, list[np.ndarray]] = {s.name: [] for s in specs if s.kind == "numeric"}
        self.maxima: dict[str, float] = {s.name: -math.inf for s in specs if s.kind == "numeric"}
        self.present: dict[str, int] = {s.name: 0 for s in specs if s.kind == "numeric"}
        self._probes = {s.name: ValueParser(s) for s in specs}

    @classmethod
    def of(cls, specs: Sequence[FieldSpec], chunks: Iterable[Mapping[str, Sequence[Any]]]) -> ValueCounts:
        counts = cls(specs)
        for chunk in chunks:
            counts.add(chunk)
        return counts

    @classmethod
    def merged(cls, specs: Sequence[FieldSpec], parts: Iterable[ValueCounts]) -> ValueCounts:
        """The counts of the union of the data behind ``parts`` (each counted over the same ``specs``)."""
        total = cls(specs)
        for part in parts:
            total.merge(part)
        return total

    def row_bound(self) -> list[str]:
        """Fields whose counts grow with the number of rows (quantile buckets keep every value)."""
        return [s.name for s in self.specs if s.kind == "numeric" and s.boundaries is None and not s.log]

    def add(self, chunk: Mapping[str, Sequence[Any]]) -> None:
        """Count one chunk of raw columns; a bad value raises :class:`EncodingError` (``row`` within the chunk)."""
        for spec in self.specs:
            if spec.source not in chunk:
                raise EncodingError(spec.source, "column is missing from the data")
            column, probe = chunk[spec.source], self._probes[spec.name]
            if spec.kind == "numeric":
                self._add_numbers(spec, numeric_column(column, probe))
            elif spec.kind == "multi_categorical":
                counter = self.values[spec.name]
                for r, value in enumerate(column):
                    counter.update(probe.items(value, r) or ())
            elif (integers := integer_column(column, spec)) is not None:
                values, missing = integers
                self.integers[spec.name].add(values if missing is None else values[~missing])
            else:
                counter = self.values[spec.name]
                counter.update(k for r, v in enumerate(column) if (k := probe.canonical(v, r)) is not None)

    def merge(self, other: ValueCounts) -> ValueCounts:
        """Add ``other``'s counts (counted over the same field specs) to these; returns ``self``."""
        if tuple(s.name for s in other.specs) != tuple(s.name for s in self.specs):
            raise ValueError("counts of different fields cannot be merged")
        for name, counter in other.values.items():
            self.values[name].update(counter)
            self.integers[name].merge(other.integers[name])
        for name, parts in other.numbers.items():
            self.numbers[name].extend(parts)
            self.maxima[name] = max(self.maxima[name], other.maxima[name])
            self.present[name] += other.present[name]
        return self

    def _add_numbers(self, spec: FieldSpec, numbers: np.ndarray) -> None:
        present = numbers[~np.isnan(numbers)]
        self.present[spec.name] += len(present)
        if len(present):
            self.maxima[spec.name] = max(self.maxima[spec.name], float(present.max()))
        if spec.boundaries is None and not spec.log:
            self.numbers[spec.name].append(present)

    def numbers_of(self, name: str) -> np.ndarray:
        parts = self.numbers[name]
        return np.concatenate(parts) if parts else np.empty(0)

    def distinct(self, name: str) -> int:
        """Distinct canonical values of a categorical field."""
        return len(self._ranked(name)[0])

    def vocabularies(self) -> dict[str, list[str]]:
        """Per categorical field, the values seen ``min_count`` times, by descending count, then by value.

        The order makes a refit on the same data (or on the same data counted in parts) give the same ids.
        """
        vocabularies = {}
        for spec in self.specs:
            if spec.kind != "numeric":
                values, counts = self._ranked(spec.name)
                vocabularies[spec.name] = values[counts >= spec.min_count].tolist()
        return vocabularies

    def _ranked(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(canonical values as a str array, counts), by descending count, then by value."""
        integers, int_counts = self.integers[name].counts()
        counter = self.values[name]
        if counter and len(integers):  # a column that mixed strings and integers: merge on the spelling
            counter = counter + Counter(dict(zip(map(str, integers.tolist()), int_counts.tolist(), strict=True)))
            integers = integers[:0]
        if len(integers):
            # Bytes of an integer's decimal spelling sort like the Python strings ('-' < '0' in ASCII).
            spelled = integers.astype("S20")
            order = np.lexsort((spelled, -int_counts))
            return spelled[order].astype(str), int_counts[order]
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        values = np.empty(len(ranked), dtype=object)  # object, not "U": no padding, no stripped trailing NULs
        values[:] = [v for v, _ in ranked]
        return values, np.array([c for _, c in ranked], dtype=np.int64)

    def boundaries(self) -> dict[str, list[float]]:
        """Per numeric field, its bucket boundaries: the schema's, log2 buckets, or training quantiles."""
        out = {}
        for s in self.specs:
            if s.kind != "numeric":
                continue
            if s.boundaries is None and not self.present[s.name]:
                raise EncodingError(s.source, "numeric field has no values in the training data")
            out[s.name] = fit_boundaries(s, self.numbers_of(s.name), self.maxima[s.name])
        return out


def fit_boundaries(spec: FieldSpec, numbers: np.ndarray, maximum: float | None = None) -> list[float]:
    """Bucket boundaries of a numeric field: the schema's, log2 buckets up to ``maximum`` (default: the
    largest of ``numbers``), or the quantiles of ``numbers``."""
    if spec.boundaries is not None:
        return list(spec.boundaries)
    if spec.log:
        top_value = float(numbers.max()) if maximum is None else maximum
        if not math.isfinite(top_value):
            raise EncodingError(spec.source, "numeric field has no values in the training data")
        # Buckets [.., 1), [1, 3), [3, 7), ...: floor(log2(x + 1)), up to the largest training value.
        top = max(1, math.ceil(math.log2(max(top_value, 0.0) + 2)))
        return [float(2**k - 1) for k in range(1, top + 1)]
    if numbers.size == 0:
        raise EncodingError(spec.source, "numeric field has no values in the training data")
    quantiles = np.quantile(numbers, np.linspace(0, 1, spec.buckets + 1)[1:-1])
    return np.unique(quantiles).tolist()
