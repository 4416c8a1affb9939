"""The candidate catalog: every known item's candidate fields and FM terms, precomputed for one model version.

A ranking service is called with the item ids retrieval returned, not with their fields. The
catalog holds, per item (keyed by the canonical value of the schema's ``candidate_id`` field):

* its candidate-side fields as a client would send them (``items``: one JSON object per item);
* its encoded candidate slots, ``ids`` and ``values`` (n, Mi), in the serving id space;
* its FM terms, computed once from the model's table by :func:`contract.fm.side_terms`:
  ``own`` = lin(i) + pair(i) (n,) and ``sums`` = S_i (n, K), float64.

So /v1/rank scores a catalog item as ``w0 + lin(c) + pair(c) + own(i) + <S_c, S_i>`` with no
parsing, validation, encoding or store lookup of the item: bitwise the terms a cache miss computes
for the same fields, hence /v1/score on the merged record within float rounding. The terms belong to
one model version (its table): a catalog is stored inside that version (``contract.catalog_files``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from contract.artifact import ArtifactError
from contract.encoding import FeatureEncoder
from contract.field import FieldEncoder
from contract.fm import side_slots, side_terms
from contract.values import EncodingError, json_type

BUILD_CHUNK = 50_000  # items encoded and reduced at once (bounds the float64 copy of their rows)
# Integer ids up to DENSE_SLACK * items + DENSE_FLOOR are looked up in a dense int64 table (at most 128 B per item
# + 512 KB), one vectorised gather instead of a dict lookup per id; larger or negative ids use the dict.
DENSE_SLACK, DENSE_FLOOR = 16, 1 << 16


class CatalogError(ArtifactError):
    """A catalog cannot be built or used: missing or corrupt files, another model version, a bad id field."""


@dataclass(frozen=True)
class CatalogData:
    """A catalog's content: ``keys`` (n,) canonical ids, ``items`` JSON lines and the arrays above."""

    keys: list[str]
    items: bytes  # n lines, each one JSON object of candidate fields, in row order
    ids: np.ndarray  # (n, Mi) int64
    values: np.ndarray  # (n, Mi) float32
    own: np.ndarray  # (n,) float64
    sums: np.ndarray  # (n, K) float64


def candidate_fields(encoder: FeatureEncoder) -> tuple[FieldEncoder, ...]:
    """The encoder's candidate-side fields, in slot order (the catalog's column layout)."""
    return tuple(f for f in encoder.fields if f.spec.side == "candidate")


def key_field(encoder: FeatureEncoder, name: str) -> FieldEncoder:
    """The field named ``name`` (the schema's ``candidate_id``); it must be categorical and candidate-side."""
    field = next((f for f in encoder.fields if f.spec.name == name), None)
    if field is None or field.spec.kind != "categorical" or field.spec.side != "candidate":
        raise CatalogError(f"candidate id field {name!r} is not a categorical candidate field of this model")
    return field


def build_catalog(
    encoder: FeatureEncoder, table: np.ndarray, records: Sequence[Mapping[str, Any]], key: str
) -> CatalogData:
    """The catalog of ``records`` (raw candidate fields; a later record of the same id wins).

    ``table`` is the model's (V, K+1) float32 table in ``encoder``'s (vocabulary) id space. Records
    without an id are skipped; a value the contract cannot read raises :class:`EncodingError` with
    the record's index as its row.
    """
    id_field = key_field(encoder, key)
    fields = candidate_fields(encoder)
    sources = tuple(dict.fromkeys(f.spec.source for f in fields))
    latest: dict[str, int] = {}
    for r, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise EncodingError(None, f"an item must be a JSON object, got {json_type(record)}", r)
        canonical = id_field.canonical(record.get(id_field.spec.source), r)
        if canonical is not None:
            latest.pop(canonical, None)  # re-inserted last: rows keep the order of each id's latest record
            latest[canonical] = r
    rows = list(latest.values())
    kept = [{s: records[r][s] for s in sources if records[r].get(s) is not None} for r in rows]
    slots = side_slots(fields)
    k = table.shape[1] - 1
    n = len(kept)
    ids, values = np.empty((n, len(slots)), np.int64), np.empty((n, len(slots)), np.float32)
    own, sums = np.empty(n, np.float64), np.empty((n, k), np.float64)
    for start in range(0, n, BUILD_CHUNK):
        chunk = kept[start : start + BUILD_CHUNK]
        columns = {s: [c.get(s) for c in chunk] for s in sources}
        try:
            batch = encoder.encode_columns(columns, len(chunk), fields)
        except EncodingError as exc:
            row = None if exc.row is None else rows[start + exc.row]
            raise EncodingError(exc.field, exc.message, row) from None
        part = slice(start, start + len(chunk))
        ids[part], values[part] = batch.ids[:, slots], batch.values[:, slots]
        terms = side_terms(table.take(ids[part], axis=0), values[part])
        own[part], sums[part] = terms.lin + terms.pair, terms.sums
    items = "".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in kept).encode()
    return CatalogData(list(latest), items, ids, values, own, sums)


class Catalog:
    """A loaded catalog generation, for one model version: id lookup and the per-item arrays.

    ``index`` maps each canonical id to its row; for an ``int`` id field it also maps the integer
    itself, so the ids of a JSON body are found by one C-level dict lookup each. Anything else (an
    id spelled differently, a float, a wrong type) goes through the field's own canonical spelling.
    """

    def __init__(
        self,
        data: CatalogData,
        id_field: FieldEncoder,
        *,
        generation: str,
        model_version: str,
        manifest: Mapping[str, Any] | None = None,
    ) -> None:
        self.data = data
        self.id_field = id_field
        self.source = id_field.spec.source  # the request key of the id
        self.generation = generation
        self.model_version = model_version
        self.manifest = dict(manifest or {})
        self.own, self.sums, self.ids, self.values = data.own, data.sums, data.ids, data.values
        index: dict[Any, int] = {key: row for row, key in enumerate(data.keys)}
        self._dense: np.ndarray | None = None  # id -> row (-1: none), for small non-negative integer ids
        if id_field.spec.dtype == "int":
            numbers = [int(key) for key in data.keys]
            index.update((number, row) for row, number in enumerate(numbers))
            top = max(numbers, default=-1)
            if numbers and min(numbers) >= 0 and top < DENSE_SLACK * len(numbers) + DENSE_FLOOR:
                self._dense = np.full(top + 1, -1, np.int64)
                self._dense[np.array(numbers, np.int64)] = np.arange(len(numbers))
        self.index = index
        buffer = np.frombuffer(data.items, np.uint8)
        ends = np.flatnonzero(buffer == ord("\n"))
        if len(ends) != len(data.keys):
            raise ValueError(f"catalog items hold {len(ends)} lines for {len(data.keys)} ids")
        self._starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else ends
        self._ends = ends

    def __len__(self) -> int:
        return len(self.data.keys)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays and the items' JSON (the id index and keys come on top: docs/ranking.md)."""
        arrays = (self.own, self.sums, self.ids, self.values, self._starts, self._ends)
        dense = 0 if self._dense is None else self._dense.nbytes
        return sum(a.nbytes for a in arrays) + len(self.data.items) + dense

    def locate(self, raw_ids: Sequence[Any]) -> np.ndarray:
        """Row of each raw id (n,) int64, -1 for an id the catalog does not hold.

        Raises :class:`EncodingError` (``row`` = the id's position) for an id that is not a string
        or an integer the field accepts: ``true``, ``null``, a list, ``1.5`` for an ``int`` field.
        """
        n, index = len(raw_ids), self.index
        kinds = set(map(type, raw_ids))
        if kinds == {int} and self._dense is not None:
            rows = self._dense_rows(raw_ids)
        elif kinds <= {int, str}:
            rows = np.fromiter(map(index.get, raw_ids, repeat(-1)), np.int64, n)  # the loop stays in C
        else:  # True == 1 and 1.0 == 1 as dict keys, lists are unhashable: the contract judges each one
            rows = np.fromiter(
                (
                    index.get(v, -1) if type(v) is int or type(v) is str else self._slow(v, i)
                    for i, v in enumerate(raw_ids)
                ),
                np.int64,
                n,
            )
        for i in np.flatnonzero(rows < 0).tolist():  # another spelling of a known id (" 242", "0242"), or unknown
            rows[i] = self._slow(raw_ids[i], i)
        return rows

    def _dense_rows(self, raw_ids: Sequence[int]) -> np.ndarray:
        """Rows of integer ids through the dense table (ids outside it: -1, judged by the caller)."""
        dense = self._dense
        assert dense is not None
        try:
            numbers = np.fromiter(raw_ids, np.int64, len(raw_ids))  # every item is an int (checked by the caller)
        except OverflowError:  # beyond int64: certainly not in the table
            return np.fromiter(map(self.index.get, raw_ids, repeat(-1)), np.int64, len(raw_ids))
        if len(numbers) and numbers.min() >= 0 and numbers.max() < len(dense):
            return dense.take(numbers)  # the common case: every id within the table
        inside = (numbers >= 0) & (numbers < len(dense))
        return np.where(inside, dense.take(np.where(inside, numbers, 0)), -1)

    def _slow(self, value: Any, i: int) -> int:
        if isinstance(value, bool):
            raise EncodingError(self.source, f"expected a string or integer id, got {json_type(value)}", i)
        canonical = self.id_field.canonical(value, i)
        if canonical is None:
            raise EncodingError(self.source, "an id must not be null or empty", i)
        return self.index.get(canonical, -1)

    def item(self, row: int) -> dict[str, Any]:
        """The candidate fields of row ``row``, as a client would send them."""
        return json.loads(self.data.items[int(self._starts[row]) : int(self._ends[row])])

    def key(self, row: int) -> str:
        return self.data.keys[row]
