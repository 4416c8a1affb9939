"""Feature encoding: raw records -> (feature ids, feature values), the one code path for both sides.

Layout of an encoded row
------------------------
Fields are laid out in schema order; each owns a range of slots and a block of feature ids
(``contract.field``). A row is ``ids[M]`` (int64) and ``values[M]`` (float32), M = total slots.
Unused slots of a multi-valued field hold the field's OOV id with value 0, which contributes
nothing to an FM (every FM term is multiplied by the slot's value), so padding is free and shapes
stay fixed.

The seams: ``contract.values`` reads raw values per field kind, ``contract.fitting`` counts training
data into vocabularies and boundaries, ``contract.hashing`` is the vocabulary-free id space a shared
store uses, ``contract.field`` is one field's ids, and this module lays the fields out and encodes
whole batches (records or columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.field import MISSING, FieldEncoder
from contract.fitting import ValueCounts
from contract.hashing import hashed_field
from contract.schema import FieldSpec
from contract.values import EncodingError, json_type


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for ``n`` rows: ``ids`` (n, M) int64 global feature ids, ``values`` (n, M) float32."""

    ids: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


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
        self._field_starts = np.array([f.slot_start for f in self.fields], dtype=np.intp)
        self._slot_field_matrix = np.zeros((self.num_slots, len(self.fields)), np.float32)  # (M, F) one-hot
        self._slot_field_matrix[np.arange(self.num_slots), self.slot_fields] = 1.0
        self._slot_oov_list = self._template_ids.tolist()  # for oov_counts' one-row path
        self._slot_field_list = self.slot_fields.tolist()

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
        """The encoder :meth:`fit` builds from ``counts`` (counted over the same ``specs``)."""
        return cls.build(specs, counts.vocabularies(), counts.boundaries())

    # -- encoding --------------------------------------------------------------------------------
    def encode_records(self, records: Sequence[Any]) -> EncodedBatch:
        """Encode a list of dicts keyed by raw column (source) names."""
        for r, record in enumerate(records):
            if not isinstance(record, dict):
                raise EncodingError(None, f"record {r} must be a JSON object, got {json_type(record)}", r)
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
            missing = feature == MISSING
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
        (see ``app.stores.memory.EmbeddingStore.gather``); only then does this report them.
        """
        flags = np.zeros((len(batch), len(self.fields)), dtype=bool)
        for j, f in enumerate(self.fields):
            sl = slice(f.slot_start, f.slot_start + f.spec.slots)
            flags[:, j] = ((batch.ids[:, sl] == f.oov_id) & (batch.values[:, sl] != 0)).any(axis=1)
        names = [f.spec.name for f in self.fields]
        return [[names[j] for j in np.flatnonzero(row)] for row in flags]

    def oov_counts(self, batch: EncodedBatch) -> list[int]:
        """Rows per field, in field order, whose field fell back to its OOV feature (or was missing).

        The flags of :meth:`oov_fields`, counted without a loop over rows: one pass over the slots
        for a single row (numpy's per-call overhead, ~1-2 µs, would dominate), else a few whole-batch
        numpy calls.
        """
        if len(batch) == 1:
            counts = [0] * len(self.fields)
            ids, values, fields = batch.ids[0].tolist(), batch.values[0].tolist(), self._slot_field_list
            for slot, (feature, oov, value) in enumerate(zip(ids, self._slot_oov_list, values, strict=True)):
                if feature == oov and value:
                    counts[fields[slot]] = 1
            return counts
        # As matrix products: numpy's bool reductions (sum, any, logical_or.reduceat) are several times
        # slower on these small arrays. Float32 counts of 0/1 are exact up to 2**24 rows.
        flags = ((batch.ids == self._template_ids) & (batch.values != 0)).astype(np.float32)  # (n, M)
        per_field = np.minimum(flags @ self._slot_field_matrix, 1.0)  # (n, F): 1 if any slot of the field
        return np.ones(len(batch), np.float32).dot(per_field).astype(np.int64).tolist()

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
    def from_layout(
        cls, layout: Mapping[str, Any], vocabularies: Mapping[str, Sequence[str]] | None, index: bool = True
    ) -> FeatureEncoder:
        """Rebuild an encoder saved by :meth:`to_layout` + :meth:`vocabularies`.

        ``vocabularies=None`` builds it in the hashed id space, which needs only the layout. ``index``
        builds each field's value -> id dict now (a server's first request must not pay for it); a job
        that only reads the vocabularies (``ctr publish``) passes False.
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
        if index:
            for field in encoder.fields:
                _ = field.ids
        return encoder
