"""One field's encoding state: its vocabulary (or numeric buckets), its feature ids and its slots.

Every field owns a fixed range of *slots* (one for ``categorical`` and ``numeric`` fields,
``max_length`` for ``multi_categorical``) and a contiguous block of global feature ids::

    global id = field.offset + local id,   local id 0 = the field's out-of-vocabulary (OOV) feature

That is the *vocabulary* id space (training, in-process serving). The same field can be built in
the *hashed* id space instead (``contract.hashing``: serving from a shared store), which needs no
vocabulary; parsing raw values (``contract.values``) is the same in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contract.hashing import HASH_MASK, MAX_HASHED_FIELDS, HashedIds, bucket_ids, feature_hash, hashed_oov
from contract.schema import FieldSpec
from contract.values import ValueParser

OOV = 0  # local id of a field's out-of-vocabulary feature
MISSING = -1  # a missing value in an id column, before it becomes the field's OOV id (or an error)


class VocabularyIds(dict[str, int]):
    """``{canonical value: global id}``; a value outside the vocabulary is the field's OOV id."""

    def __init__(self, ids: Mapping[str, int], oov: int) -> None:
        super().__init__(ids)
        self.oov = oov

    def __missing__(self, value: str) -> int:
        return self.oov


class FieldEncoder(ValueParser):
    """Encoding state of one field: its vocabulary (or bucket boundaries) and its id/slot ranges.

    ``hashed=True`` builds the field in the hashed id space (``contract.hashing``): no vocabulary,
    ``size`` taken from the saved layout, ids tagged with ``index``, the field's position.
    """

    def __init__(
        self,
        spec: FieldSpec,
        offset: int,
        slot_start: int,
        vocabulary: Sequence[str] = (),
        boundaries: Sequence[float] = (),
        *,
        hashed: bool = False,
        size: int | None = None,
        index: int = 0,
    ) -> None:
        super().__init__(spec)
        self.index = index
        self.offset = offset
        self.slot_start = slot_start
        self.hashed = hashed
        self.vocabulary = list(vocabulary)
        self.boundaries = np.asarray(boundaries, dtype=np.float64)
        if spec.kind == "numeric":
            self.size = len(self.boundaries) + 2  # OOV + (len + 1) buckets
        elif hashed:
            if self.vocabulary or size is None:
                raise ValueError(f"field {spec.name}: a hashed field takes its size from the layout, not a vocabulary")
            self.size = size
        else:
            self.size = len(self.vocabulary) + 1
        # canonical value -> feature id, and numeric bucket (local id) -> feature id, in this id space
        self.ids: dict[str, int]  # ids[value]: never raises KeyError (OOV id, or the value's hash)
        if hashed:
            if not 0 <= index <= MAX_HASHED_FIELDS:
                raise ValueError(f"hashed ids hold at most {MAX_HASHED_FIELDS + 1} fields")
            self.oov_id = hashed_oov(index)
            self.ids = HashedIds(spec.name, index)
            buckets = bucket_ids(spec.name, index, self.size)
        else:
            self.oov_id = offset
            self.ids = VocabularyIds({value: offset + i + 1 for i, value in enumerate(self.vocabulary)}, offset)
            buckets = list(range(offset, offset + self.size))
        self.bucket_ids = np.array(buckets if spec.kind == "numeric" else [], dtype=np.int64)
        # A non-empty string needs no canonicalisation when it is already the vocabulary's spelling.
        self._plain_strings = spec.dtype == "string" and spec.transform is None

    # -- column -> feature ids -------------------------------------------------------------------
    def buckets(self, column: Sequence[Any]) -> np.ndarray:
        """Bucket (local id, 1-based) of each value of a numeric column; missing values get ``MISSING``."""
        numbers = np.fromiter((nan_if_none(self.number(v, r)) for r, v in enumerate(column)), np.float64, len(column))
        local = np.searchsorted(self.boundaries, numbers, side="right") + 1
        local[np.isnan(numbers)] = MISSING
        return local

    def local_ids(self, column: Sequence[Any]) -> np.ndarray:
        """Local ids (0 = OOV) of a categorical or numeric column of a vocabulary field; missing -> ``MISSING``."""
        if self.hashed:
            raise ValueError(f"field {self.spec.name} is hashed: it has no local ids")
        ids = self.feature_ids(column)
        return np.where(ids == MISSING, MISSING, ids - self.offset)

    def feature_ids(self, column: Sequence[Any]) -> np.ndarray:
        """Feature ids of a categorical or numeric column in this field's id space; missing -> ``MISSING``."""
        if self.spec.kind == "numeric":
            local = self.buckets(column)
            return np.where(local == MISSING, MISSING, self.bucket_ids[local])
        lookup = self.ids.__getitem__
        out = np.empty(len(column), dtype=np.int64)
        for r, value in enumerate(column):
            if self._plain_strings and type(value) is str and value:
                out[r] = lookup(value)
            else:
                key = self.canonical(value, r)
                out[r] = MISSING if key is None else lookup(key)
        return out

    def feature_hashes(self, index: int) -> np.ndarray:
        """(size,) hashed id of each local id of this (vocabulary) field, at position ``index``."""
        if self.spec.kind == "numeric":
            return np.array(bucket_ids(self.spec.name, index, self.size), dtype=np.int64)
        tag = hashed_oov(index)
        return np.array([tag] + [tag | feature_hash(self.spec.name, v) for v in self.vocabulary], dtype=np.int64)

    def label(self, local: int) -> str:
        """Human-readable name of a local feature (for explanations and store keys)."""
        if local == OOV:
            return "<oov>"
        if self.spec.kind == "numeric":
            b = self.boundaries
            lo = "-inf" if local == 1 else f"{b[local - 2]:g}"
            hi = "inf" if local == len(b) + 1 else f"{b[local - 1]:g}"
            return f"[{lo},{hi})"
        return self.vocabulary[local - 1]

    def feature_label(self, feature: int) -> str:
        """Label of one of this field's feature ids, in its id space.

        A hashed categorical id cannot be turned back into its value (there is no vocabulary):
        it reads ``#<hash>``; name such features from the request's raw values instead.
        """
        if not self.hashed:
            return self.label(feature - self.offset)
        if feature == self.oov_id:
            return "<oov>"
        if self.spec.kind == "numeric" and feature in self.bucket_ids:
            return self.label(int(np.flatnonzero(self.bucket_ids == feature)[0]))
        return f"#{feature & HASH_MASK:014x}"

    def to_layout(self) -> dict[str, Any]:
        layout = self.spec.to_dict()
        layout.update(offset=self.offset, size=self.size, slot_start=self.slot_start)
        if self.spec.kind == "numeric":
            layout["fitted_boundaries"] = self.boundaries.tolist()
        return layout


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value
