"""Fitting an encoder's state on training data: value counts, vocabularies and numeric boundaries.

Counting is streamed chunk by chunk, so the data never has to fit in memory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from contract.schema import FieldSpec
from contract.values import EncodingError, ValueParser


class ValueCounts:
    """What fitting needs from the training data: per categorical field a Counter of canonical values,
    per numeric field its values. Filled chunk by chunk, so the data never has to fit in memory."""

    def __init__(self, specs: Sequence[FieldSpec]) -> None:
        self.specs = tuple(specs)
        self.values: dict[str, Counter[str]] = {s.name: Counter() for s in specs if s.kind != "numeric"}
        self.numbers: dict[str, list[np.ndarray]] = {s.name: [] for s in specs if s.kind == "numeric"}
        self._probes = {s.name: ValueParser(s) for s in specs}

    @classmethod
    def of(cls, specs: Sequence[FieldSpec], chunks: Iterable[Mapping[str, Sequence[Any]]]) -> ValueCounts:
        counts = cls(specs)
        for chunk in chunks:
            counts.add(chunk)
        return counts

    def add(self, chunk: Mapping[str, Sequence[Any]]) -> None:
        """Count one chunk of raw columns; a bad value raises :class:`EncodingError` (``row`` within the chunk)."""
        for spec in self.specs:
            if spec.source not in chunk:
                raise EncodingError(spec.source, "column is missing from the data")
            column, probe = chunk[spec.source], self._probes[spec.name]
            if spec.kind == "numeric":
                values = [probe.number(v, r) for r, v in enumerate(column)]
                self.numbers[spec.name].append(np.array([v for v in values if v is not None], np.float64))
            elif spec.kind == "multi_categorical":
                counter = self.values[spec.name]
                for r, value in enumerate(column):
                    counter.update(probe.items(value, r) or ())
            else:
                counter = self.values[spec.name]
                counter.update(k for r, v in enumerate(column) if (k := probe.canonical(v, r)) is not None)

    def numbers_of(self, name: str) -> np.ndarray:
        parts = self.numbers[name]
        return np.concatenate(parts) if parts else np.empty(0)

    def vocabularies(self) -> dict[str, list[str]]:
        """Per categorical field, the values seen ``min_count`` times, by descending count, then by value.

        The order makes a refit on the same data give the same ids.
        """
        vocabularies = {}
        for spec in self.specs:
            if spec.kind != "numeric":
                ranked = sorted(self.values[spec.name].items(), key=lambda kv: (-kv[1], kv[0]))
                vocabularies[spec.name] = [value for value, count in ranked if count >= spec.min_count]
        return vocabularies

    def boundaries(self) -> dict[str, list[float]]:
        """Per numeric field, its bucket boundaries: the schema's, log2 buckets, or training quantiles."""
        return {s.name: fit_boundaries(s, self.numbers_of(s.name)) for s in self.specs if s.kind == "numeric"}


def fit_boundaries(spec: FieldSpec, numbers: np.ndarray) -> list[float]:
    if spec.boundaries is not None:
        return list(spec.boundaries)
    if numbers.size == 0:
        raise EncodingError(spec.source, "numeric field has no values in the training data")
    if spec.log:
        # Buckets [.., 1), [1, 3), [3, 7), ...: floor(log2(x + 1)), up to the largest training value.
        top = max(1, math.ceil(math.log2(max(float(numbers.max()), 0.0) + 2)))
        return [float(2**k - 1) for k in range(1, top + 1)]
    quantiles = np.quantile(numbers, np.linspace(0, 1, spec.buckets + 1)[1:-1])
    return np.unique(quantiles).tolist()
