"""Feature encoding: raw records -> (feature ids, feature values), the one code path for both sides.

Layout of an encoded row
------------------------
Every field owns a fixed range of *slots* (one for ``categorical`` and ``numeric`` fields,
``max_length`` for ``multi_categorical``) and a contiguous block of global feature ids::

    global id = field.offset + local id,   local id 0 = the field's out-of-vocabulary (OOV) feature

A row is ``ids[M]`` (int64) and ``values[M]`` (float32), M = total slots. Unused slots of a
multi-valued field hold the field's OOV id with value 0, which contributes nothing to an FM
(every FM term is multiplied by the slot's value), so padding is free and shapes stay fixed.

Two id spaces
-------------
* *vocabulary* ids (training, in-process serving): ``offset + local id`` as above; needs the vocabulary.
* *hashed* ids (serving from a shared store, e.g. Redis)::

      hashed id = field index << 56 | feature_hash(field name, canonical value)   (56 bits, never 0)
      the field's OOV feature = field index << 56                                 (hash part 0)

  No vocabulary is needed: the store holds a row for every feature of the vocabulary (keyed by its
  hashed id), and an id the store does not hold is an unseen value, i.e. the OOV feature of the field
  its top byte names. Ids say their field, so a store needs no slot positions (callers may reshape
  or concatenate ids). Both id spaces share every step before the last (canonical values, buckets,
  slots, values), so a record gets the same rows, hence the same score, in both.

Raw values
----------
* categorical: a string, or an integer (also an integral float) turned into its decimal string;
  ``dtype = "int"`` also accepts integer strings and normalises them (``"0196"`` -> ``"196"``).
  A ``transform`` (``prefix:<n>``, ``lower``) is then applied.
* multi_categorical: a list of such values, or one string split on the field's ``separator``;
  each value gets weight 1 (``weighting = "one"``) or 1/len (``"mean"``). With
  ``weighting = "given"`` every value carries its own weight, which becomes the slot's value (the
  ``x`` of an FM, e.g. a libFM ``id:value`` pair): ``{"value": weight, ...}``, a list of
  ``[value, weight]`` pairs or ``"value:weight"`` strings, or one string ``"a:0.5|b:2"`` split on the
  separator. A weighted single value is such a field with ``max_length = 1``.
* numeric: a number (or a numeric string), bucketised by boundaries into a one-hot bucket feature.

``None``, NaN, ``""`` and an empty list mean *missing*: a missing optional field is encoded as its
OOV feature with value 1; a missing required field is an error.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.schema import FieldSpec

OOV = 0
_MISSING = -1
FIELD_SHIFT = 56  # hashed id = field index << FIELD_SHIFT | value hash
HASH_MASK = (1 << FIELD_SHIFT) - 1
MAX_HASHED_FIELDS = 127  # the field index must keep ids positive int64
_HASH_MEMO = 1 << 14  # canonical values memoised per field when hashing (bounded: not a vocabulary)


def feature_hash(field: str, canonical: str) -> int:
    """The value part of a hashed id: 56 bits of BLAKE2b of ``field=canonical``, never 0.

    Stable across processes, machines and Python versions (unlike ``hash()``), because store keys
    are derived from it. The field name is part of the input, so equal values of different fields
    differ. Numeric buckets are hashed as ``#<bucket>`` (1-based, as their local ids).
    """
    digest = hashlib.blake2b(f"{field}\x1f{canonical}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & HASH_MASK) or 1


def hashed_oov(field_index: int | np.ndarray) -> Any:
    """Hashed id of a field's OOV feature (works on arrays of field indices)."""
    return field_index << FIELD_SHIFT


def hashed_field(ids: Any) -> Any:
    """Field index of hashed ids (int or int64 array)."""
    return ids >> FIELD_SHIFT


def _bucket_ids(field: str, index: int, size: int) -> list[int]:
    """Hashed ids of a numeric field's local ids 0 (OOV) .. size-1 (its buckets)."""
    tag = hashed_oov(index)
    return [tag] + [tag | feature_hash(field, f"#{k}") for k in range(1, size)]


class _VocabularyIds(dict[str, int]):
    """``{canonical value: global id}``; a value outside the vocabulary is the field's OOV id."""

    def __init__(self, ids: Mapping[str, int], oov: int) -> None:
        super().__init__(ids)
        self.oov = oov

    def __missing__(self, value: str) -> int:
        return self.oov


class _HashedIds(dict[str, int]):
    """The hashed id space's stand-in for a vocabulary: ``ids[value]`` is the value's hashed id.

    Ids are memoised (a plain dict hit costs what a vocabulary lookup costs); the memo is bounded,
    emptied when full, so it never grows into a vocabulary.
    """

    def __init__(self, field: str, index: int) -> None:
        super().__init__()
        self.field = field
        self.tag = hashed_oov(index)

    def __missing__(self, value: str) -> int:
        if len(self) >= _HASH_MEMO:
            self.clear()
        feature = self[value] = self.tag | feature_hash(self.field, value)
        return feature


class EncodingError(ValueError):
    """A raw value cannot be encoded. ``field`` is the request key (raw column) at fault."""

    def __init__(self, field: str | None, message: str, row: int | None = None) -> None:
        where = f"{field}" if row is None else f"{field} (record {row})"
        super().__init__(f"{where}: {message}" if field else message)
        self.field = field
        self.row = row
        self.message = message


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for ``n`` rows: ``ids`` (n, M) int64 global feature ids, ``values`` (n, M) float32."""

    ids: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class FieldEncoder:
    """Encoding state of one field: its vocabulary (or bucket boundaries) and its id/slot ranges.

    ``hashed=True`` builds the field in the hashed id space (module docstring): no vocabulary,
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
        self.spec = spec
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
            self.ids = _HashedIds(spec.name, index)
            buckets = _bucket_ids(spec.name, index, self.size)
        else:
            self.oov_id = offset
            self.ids = _VocabularyIds({value: offset + i + 1 for i, value in enumerate(self.vocabulary)}, offset)
            buckets = list(range(offset, offset + self.size))
        self.bucket_ids = np.array(buckets if spec.kind == "numeric" else [], dtype=np.int64)
        self._prefix = int(spec.transform.split(":")[1]) if (spec.transform or "").startswith("prefix:") else 0
        # A non-empty string needs no canonicalisation when it is already the vocabulary's spelling.
        self._plain_strings = spec.dtype == "string" and spec.transform is None

    # -- raw value -> canonical value ------------------------------------------------------------
    def canonical(self, value: Any, row: int | None = None) -> str | None:
        """The vocabulary spelling of one categorical value, or None when missing."""
        kind = type(value)
        if kind is str:
            if not value:
                return None
            if self.spec.dtype == "int":
                text = value.strip()
                if not (text.lstrip("-").isdigit()):
                    raise EncodingError(self.spec.source, f"expected an integer id, got {value!r}", row)
                value = str(int(text))
        elif kind is int or isinstance(value, np.integer):
            value = str(int(value))
        elif kind is float or isinstance(value, np.floating):
            if math.isnan(value):
                return None
            if not float(value).is_integer():
                raise EncodingError(self.spec.source, f"expected a string or integer id, got {value!r}", row)
            value = str(int(value))
        elif value is None:
            return None
        else:
            raise EncodingError(self.spec.source, f"expected a string or integer, got {_json_type(value)}", row)
        if self._prefix:
            return value[: self._prefix]
        if self.spec.transform == "lower":
            return value.lower()
        return value

    def number(self, value: Any, row: int | None = None) -> float | None:
        """A numeric field's value as float, or None when missing."""
        kind = type(value)
        if kind is float or kind is int or isinstance(value, np.integer | np.floating):
            number = float(value)
        elif value is None:
            return None
        elif kind is str:
            if not value.strip():
                return None
            try:
                number = float(value)
            except ValueError:
                raise EncodingError(self.spec.source, f"expected a number, got {value!r}", row) from None
        else:
            raise EncodingError(self.spec.source, f"expected a number, got {_json_type(value)}", row)
        if math.isnan(number):
            return None
        if math.isinf(number):
            raise EncodingError(self.spec.source, "expected a finite number", row)
        return number

    def items(self, value: Any, row: int | None = None) -> list[str] | None:
        """A multi-valued field's canonical values, or None when missing."""
        if self.spec.weighting == "given":
            weighted = self.weighted_items(value, row)
            return None if weighted is None else weighted[0]
        if value is None:
            return None
        if isinstance(value, str):
            if self.spec.separator is None:
                raise EncodingError(self.spec.source, "expected a list of values", row)
            parts: Iterable[Any] = (p for p in value.split(self.spec.separator) if p)
        elif isinstance(value, list | tuple | np.ndarray):
            parts = value
        elif isinstance(value, float) and math.isnan(value):
            return None
        else:
            raise EncodingError(self.spec.source, f"expected a list, got {_json_type(value)}", row)
        items = []
        for part in parts:
            item = self.canonical(part, row)
            if item is not None:
                items.append(item)
        if len(items) > self.spec.max_length:
            raise EncodingError(
                self.spec.source, f"has {len(items)} values, more than max_length={self.spec.max_length}", row
            )
        return items or None

    def weighted_items(self, value: Any, row: int | None = None) -> tuple[list[str], list[float]] | None:
        """A ``weighting = "given"`` field's canonical values and their weights, or None when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, dict):
            pairs: Iterable[Any] = value.items()
        elif isinstance(value, str):
            if self.spec.separator is None:
                raise EncodingError(self.spec.source, "expected an object of {value: weight}", row)
            pairs = (self._pair(p, row) for p in value.split(self.spec.separator) if p)
        elif isinstance(value, list | tuple | np.ndarray):
            pairs = (self._pair(p, row) for p in value)
        else:
            expected = f"expected an object of {{value: weight}}, got {_json_type(value)}"
            raise EncodingError(self.spec.source, expected, row)
        keys, weights = [], []
        for raw, weight in pairs:
            key = self.canonical(raw, row)
            if key is not None:
                keys.append(key)
                weights.append(self._weight(weight, row))
        if len(keys) > self.spec.max_length:
            raise EncodingError(
                self.spec.source, f"has {len(keys)} values, more than max_length={self.spec.max_length}", row
            )
        return (keys, weights) if keys else None

    def _pair(self, part: Any, row: int | None) -> tuple[Any, Any]:
        if isinstance(part, str):
            raw, colon, weight = part.rpartition(":")
            if colon:
                return raw, weight
            raise EncodingError(self.spec.source, f"expected 'value:weight', got {part!r}", row)
        if isinstance(part, list | tuple) and len(part) == 2:
            return part[0], part[1]
        raise EncodingError(self.spec.source, f"expected a [value, weight] pair, got {_json_type(part)}", row)

    def _weight(self, weight: Any, row: int | None) -> float:
        kind = type(weight)
        if kind is str:
            try:
                number = float(weight)
            except ValueError:
                raise EncodingError(self.spec.source, f"expected a numeric weight, got {weight!r}", row) from None
        elif kind is float or kind is int or isinstance(weight, np.integer | np.floating):
            number = float(weight)
        else:
            raise EncodingError(self.spec.source, f"expected a numeric weight, got {_json_type(weight)}", row)
        if not math.isfinite(number):
            raise EncodingError(self.spec.source, "weights must be finite numbers", row)
        return number

    # -- column -> feature ids -------------------------------------------------------------------
    def buckets(self, column: Sequence[Any]) -> np.ndarray:
        """Bucket (local id, 1-based) of each value of a numeric column; missing values get ``_MISSING``."""
        numbers = np.fromiter((_nan_if_none(self.number(v, r)) for r, v in enumerate(column)), np.float64, len(column))
        local = np.searchsorted(self.boundaries, numbers, side="right") + 1
        local[np.isnan(numbers)] = _MISSING
        return local

    def local_ids(self, column: Sequence[Any]) -> np.ndarray:
        """Local ids (0 = OOV) of a categorical or numeric column of a vocabulary field; missing -> ``_MISSING``."""
        if self.hashed:
            raise ValueError(f"field {self.spec.name} is hashed: it has no local ids")
        ids = self.feature_ids(column)
        return np.where(ids == _MISSING, _MISSING, ids - self.offset)

    def feature_ids(self, column: Sequence[Any]) -> np.ndarray:
        """Feature ids of a categorical or numeric column in this field's id space; missing -> ``_MISSING``."""
        if self.spec.kind == "numeric":
            local = self.buckets(column)
            return np.where(local == _MISSING, _MISSING, self.bucket_ids[local])
        lookup = self.ids.__getitem__
        out = np.empty(len(column), dtype=np.int64)
        for r, value in enumerate(column):
            if self._plain_strings and type(value) is str and value:
                out[r] = lookup(value)
            else:
                key = self.canonical(value, r)
                out[r] = _MISSING if key is None else lookup(key)
        return out

    def feature_hashes(self, index: int) -> np.ndarray:
        """(size,) hashed id of each local id of this (vocabulary) field, at position ``index``."""
        if self.spec.kind == "numeric":
            return np.array(_bucket_ids(self.spec.name, index, self.size), dtype=np.int64)
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


class ValueCounts:
    """What fitting needs from the training data: per categorical field a Counter of canonical values,
    per numeric field its values. Filled chunk by chunk, so the data never has to fit in memory."""

    def __init__(self, specs: Sequence[FieldSpec]) -> None:
        self.specs = tuple(specs)
        self.values: dict[str, Counter[str]] = {s.name: Counter() for s in specs if s.kind != "numeric"}
        self.numbers: dict[str, list[np.ndarray]] = {s.name: [] for s in specs if s.kind == "numeric"}
        self._probes = {s.name: FieldEncoder(s, 0, 0) for s in specs}

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


class FeatureEncoder:
    """Turns raw records or columns into an :class:`EncodedBatch`; fitted on training data only."""

    def __init__(self, fields: Sequence[FieldEncoder]) -> None:
        self.fields = tuple(fields)
        self.num_features = sum(f.size for f in self.fields)
        self.num_slots = sum(f.spec.slots for f in self.fields)
        self.sources = tuple(dict.fromkeys(f.spec.source for f in self.fields))
        self._source_set = frozenset(self.sources)
        self._required = tuple(dict.fromkeys(f.spec.source for f in self.fields if f.spec.required))
        self.hashed = bool(self.fields) and self.fields[0].hashed
        if any(f.hashed != self.hashed for f in self.fields):
            raise ValueError("all fields of an encoder must share one id space")
        # Row template: every slot starts as its field's OOV id; values 0 (padding) or 1 (single slot).
        self._template_ids = np.empty(self.num_slots, dtype=np.int64)
        self._template_values = np.zeros(self.num_slots, dtype=np.float32)
        self.slot_fields = np.empty(self.num_slots, dtype=np.int64)  # (M,) index into ``fields`` per slot
        for j, f in enumerate(self.fields):
            self._template_ids[f.slot_start : f.slot_start + f.spec.slots] = f.oov_id
            self.slot_fields[f.slot_start : f.slot_start + f.spec.slots] = j

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        specs: Sequence[FieldSpec],
        vocabularies: Mapping[str, Sequence[str]],
        boundaries: Mapping[str, Sequence[float]],
    ) -> FeatureEncoder:
        """Lay fields out in schema order, given each field's vocabulary or numeric boundaries."""
        fields, offset, slot = [], 0, 0
        for spec in specs:
            field = FieldEncoder(spec, offset, slot, vocabularies.get(spec.name, ()), boundaries.get(spec.name, ()))
            fields.append(field)
            offset += field.size
            slot += spec.slots
        return cls(fields)

    @classmethod
    def fit(cls, specs: Sequence[FieldSpec], chunks: Iterable[Mapping[str, Sequence[Any]]]) -> FeatureEncoder:
        """Count values over training chunks (dicts of raw columns) and keep those seen ``min_count`` times.

        Vocabularies are ordered by descending count, then by value, so a refit on the same data
        gives the same ids. Quantile boundaries use every training value of the field.
        """
        return cls.from_counts(specs, ValueCounts.of(specs, chunks))

    @classmethod
    def from_counts(cls, specs: Sequence[FieldSpec], counts: ValueCounts) -> FeatureEncoder:
        """The encoder :meth:`fit` builds from ``counts``."""
        vocabularies = {}
        for spec in specs:
            if spec.kind != "numeric":
                ranked = sorted(counts.values[spec.name].items(), key=lambda kv: (-kv[1], kv[0]))
                vocabularies[spec.name] = [value for value, count in ranked if count >= spec.min_count]
        bounds = {s.name: _fit_boundaries(s, counts.numbers_of(s.name)) for s in specs if s.kind == "numeric"}
        return cls.build(specs, vocabularies, bounds)

    # -- encoding --------------------------------------------------------------------------------
    def encode_records(self, records: Sequence[Any]) -> EncodedBatch:
        """Encode a list of dicts keyed by raw column (source) names."""
        for r, record in enumerate(records):
            if not isinstance(record, dict):
                raise EncodingError(None, f"record {r} must be a JSON object, got {_json_type(record)}", r)
            for key in record:
                if key not in self._source_set:
                    raise EncodingError(key, "unknown field", r)
        columns = {s: [rec.get(s) for rec in records] for s in self.sources}
        return self.encode_columns(columns, len(records))

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any]], n_rows: int, fields: Sequence[FieldEncoder] | None = None
    ) -> EncodedBatch:
        """Encode columns of raw values (lists or numpy arrays, each of length ``n_rows``).

        ``fields`` restricts encoding to some fields (e.g. one side of a ranking request): the slots
        of every other field keep their OOV id with value 0, so they add nothing to an FM score.
        """
        ids, values = self.blank(n_rows)
        for field in self.fields if fields is None else fields:
            spec, s = field.spec, field.slot_start
            column = columns.get(spec.source)
            if column is None:
                if spec.required and n_rows:
                    raise EncodingError(spec.source, "required field is missing", 0)
                values[:, s] = 1.0
                continue
            if len(column) != n_rows:
                raise EncodingError(spec.source, f"has {len(column)} values, expected {n_rows}")
            if spec.kind == "multi_categorical":
                self._fill_multi(field, column, ids, values)
                continue
            feature = field.feature_ids(column)
            missing = feature == _MISSING
            if missing.any():
                if spec.required:
                    raise EncodingError(spec.source, "required field is missing", int(np.argmax(missing)))
                feature[missing] = field.oov_id
            ids[:, s] = feature
            values[:, s] = 1.0
        return EncodedBatch(ids, values)

    def blank(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """(n_rows, M) ids and values of rows with every slot at its field's OOV id and value 0."""
        return np.tile(self._template_ids, (n_rows, 1)), np.tile(self._template_values, (n_rows, 1))

    def _fill_multi(self, field: FieldEncoder, column: Sequence[Any], ids: np.ndarray, values: np.ndarray) -> None:
        spec, s, lookup = field.spec, field.slot_start, field.ids.__getitem__
        mean = spec.weighting == "mean"
        if spec.weighting == "given":
            self._fill_weighted(field, column, ids, values)
            return
        for r, raw in enumerate(column):
            items = field.items(raw, r)
            if items is None:
                if spec.required:
                    raise EncodingError(spec.source, "required field is missing", r)
                values[r, s] = 1.0
                continue
            n = len(items)
            ids[r, s : s + n] = [lookup(item) for item in items]
            values[r, s : s + n] = 1.0 / n if mean else 1.0

    def _fill_weighted(self, field: FieldEncoder, column: Sequence[Any], ids: np.ndarray, values: np.ndarray) -> None:
        spec, s, lookup = field.spec, field.slot_start, field.ids.__getitem__
        for r, raw in enumerate(column):
            weighted = field.weighted_items(raw, r)
            if weighted is None:
                if spec.required:
                    raise EncodingError(spec.source, "required field is missing", r)
                values[r, s] = 1.0
                continue
            keys, weights = weighted
            n = len(keys)
            ids[r, s : s + n] = [lookup(key) for key in keys]
            values[r, s : s + n] = weights

    def oov_fields(self, batch: EncodedBatch) -> list[list[str]]:
        """Per row, the fields whose (non-padding) slots fell back to the OOV feature.

        In the hashed id space, unseen values keep their hash until a store resolves them to 0
        (see ``app.store.EmbeddingStore.gather``); only then does this report them.
        """
        flags = np.zeros((len(batch), len(self.fields)), dtype=bool)
        for j, f in enumerate(self.fields):
            sl = slice(f.slot_start, f.slot_start + f.spec.slots)
            flags[:, j] = ((batch.ids[:, sl] == f.oov_id) & (batch.values[:, sl] != 0)).any(axis=1)
        names = [f.spec.name for f in self.fields]
        return [[names[j] for j in np.flatnonzero(row)] for row in flags]

    # -- introspection ---------------------------------------------------------------------------
    def field_of(self, global_ids: np.ndarray) -> np.ndarray:
        """Index (into ``fields``) of the field each id belongs to."""
        if self.hashed:
            return hashed_field(np.asarray(global_ids))
        starts = np.array([f.offset for f in self.fields])
        return np.searchsorted(starts, global_ids, side="right") - 1

    def feature_name(self, global_id: int) -> str:
        """``field=value`` for a feature id, e.g. ``genres=Comedy`` or ``age=<oov>`` (see ``feature_label``)."""
        field = self.fields[int(self.field_of(np.array([global_id]))[0])]
        return f"{field.spec.name}={field.feature_label(int(global_id))}"

    def to_layout(self) -> dict[str, Any]:
        """JSON-able description of the layout (everything but the vocabularies)."""
        return {
            "num_features": self.num_features,
            "num_slots": self.num_slots,
            "fields": [f.to_layout() for f in self.fields],
        }

    def vocabularies(self) -> dict[str, list[str]]:
        return {f.spec.name: f.vocabulary for f in self.fields if f.spec.kind != "numeric"}

    def feature_hashes(self) -> np.ndarray:
        """(num_features,) hashed id of every global id (``hashed_oov(field)`` for OOV features).

        The bridge between the two id spaces: a store keyed by hashed ids holds row ``g`` of the
        table under ``feature_hashes()[g]``.
        """
        if self.hashed:
            raise ValueError("this encoder is already hashed: it has no vocabulary to hash")
        if not self.fields:
            return np.empty(0, np.int64)
        return np.concatenate([f.feature_hashes(j) for j, f in enumerate(self.fields)])

    def to_hashed(self) -> FeatureEncoder:
        """The same fields, slots and buckets in the hashed id space (without the vocabularies)."""
        return FeatureEncoder.from_layout(self.to_layout(), None)

    @classmethod
    def from_layout(cls, layout: Mapping[str, Any], vocabularies: Mapping[str, Sequence[str]] | None) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_layout` + :meth:`vocabularies`.

        ``vocabularies=None`` builds it in the hashed id space, which needs only the layout.
        """
        fields = []
        for index, entry in enumerate(layout["fields"]):
            spec_keys = FieldSpec.__dataclass_fields__.keys()
            spec_args = {k: entry[k] for k in spec_keys if k in entry}
            if spec_args.get("boundaries") is not None:
                spec_args["boundaries"] = tuple(spec_args["boundaries"])
            spec = FieldSpec(**spec_args)
            field = FieldEncoder(
                spec,
                entry["offset"],
                entry["slot_start"],
                () if vocabularies is None else vocabularies.get(spec.name, ()),
                entry.get("fitted_boundaries", ()),
                hashed=vocabularies is None,
                size=entry["size"],
                index=index,
            )
            if field.size != entry["size"]:
                raise ValueError(f"field {spec.name}: vocabulary has {field.size} ids, layout says {entry['size']}")
            fields.append(field)
        encoder = cls(fields)
        if encoder.num_features != layout["num_features"] or encoder.num_slots != layout["num_slots"]:
            raise ValueError("layout totals do not match its fields")
        return encoder


def _fit_boundaries(spec: FieldSpec, numbers: np.ndarray) -> list[float]:
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


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__
