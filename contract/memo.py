"""The serving fast path of the feature contract: the same encoding, memoised per raw value.

A live server sees the same raw values again and again (a user, an item, a genre list), and
encoding one value through :class:`~contract.encoding.FeatureEncoder` costs a few µs of Python
(type checks, canonical spelling, bucketing, small numpy arrays). :class:`MemoEncoder` keeps, per
field, ``raw value -> (slot ids, slot values)`` and builds a batch from those cells.

Exactness: a cell is only ever computed by the general encoder itself (one value, one field), so a
memoised batch is bit-for-bit what :meth:`FeatureEncoder.encode_records` gives
(tests/contract/test_memo.py checks it property-based). Keys carry the value's type (``1``, ``1.0``,
``True`` and ``"1"`` are different keys: the contract treats them differently). Anything unusual —
an unhashable value, a record that is not an object, an unknown key, any encoding error — goes to
the general encoder for the whole batch, so error messages are the general path's, word for word.
Each field's memo is bounded and emptied when full: unseen values cannot grow it without limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np

from contract.encoding import EncodedBatch, FeatureEncoder
from contract.field import FieldEncoder
from contract.values import EncodingError

Cell = tuple[tuple[int, ...], tuple[float, ...]]  # one field's slot ids and slot values


class _Fallback(Exception):
    """The batch needs the general encoder (which raises the right error, or encodes it)."""


class _FieldMemo:
    """``raw value -> cell`` for one field, filled by the general encoder on a miss.

    A cell is kept twice: as tuples (one record concatenates them into its row) and as row ``i`` of
    ``cell_ids`` / ``cell_values`` (a column of values becomes one fancy-indexing gather).
    """

    def __init__(self, encoder: FeatureEncoder, field: FieldEncoder, capacity: int) -> None:
        self.encoder = encoder
        self.field = field
        self.source = field.spec.source
        self.slots = slice(field.slot_start, field.slot_start + field.spec.slots)
        self.capacity = capacity
        # One dict per raw type, so the common key (a str or an int) is the value itself, not a tuple.
        self.index: dict[type, dict[Any, int]] = {}
        self.cells: list[Cell] = []
        self.cell_ids = np.empty((capacity, field.spec.slots), dtype=np.int64)
        self.cell_values = np.empty((capacity, field.spec.slots), dtype=np.float32)

    @staticmethod
    def key(value: Any) -> Any:
        if type(value) is not list:
            return value
        # (1,) == (1.0,) == (True,) as tuples, so a list key records its items' types unless all are str.
        items = tuple(value)
        return items if all(type(item) is str for item in items) else (items, tuple(map(type, items)))

    def position(self, value: Any) -> int:
        """Row of ``value``'s cell in ``cell_ids`` / ``cell_values`` (encoding it on a miss)."""
        kind = type(value)
        key = self.key(value)
        known = self.index.get(kind)
        try:
            if known is not None and (found := known.get(key)) is not None:
                return found
            return self._add(kind, key, value)
        except TypeError:  # unhashable (e.g. weighted [value, weight] pairs): not memoised
            raise _Fallback from None

    def cell(self, value: Any) -> Cell:
        return self.cells[self.position(value)]

    def positions(self, column: Sequence[Any]) -> np.ndarray:
        """Cell rows of a whole column; one dict lookup per value when all values share a type."""
        if len(self.cells) + len(column) > self.capacity:
            if len(column) > self.capacity:
                raise _Fallback
            self.clear()  # only between columns: positions already handed out stay valid
        kinds = set(map(type, column))
        if len(kinds) == 1:
            kind = kinds.pop()
            known = self.index.get(kind, {})
            keys: Sequence[Any] = column
            if kind is list:
                all_str = set(map(type, chain.from_iterable(column))) <= {str}
                keys = list(map(tuple, column)) if all_str else list(map(self.key, column))
            try:  # all hits: one pass, straight into the array (a miss's None stops it)
                return np.fromiter(map(known.get, keys), dtype=np.intp, count=len(column))
            except TypeError:
                pass
        return np.fromiter(map(self.position, column), dtype=np.intp, count=len(column))

    def clear(self) -> None:
        self.index.clear()
        self.cells.clear()

    def _add(self, kind: type, key: Any, value: Any) -> int:
        if len(self.cells) >= self.capacity:
            self.clear()
        try:
            batch = self.encoder.encode_columns({self.source: [value]}, 1, (self.field,))
        except EncodingError:
            raise _Fallback from None
        ids, values = batch.ids[0, self.slots], batch.values[0, self.slots]
        at = len(self.cells)
        self.index.setdefault(kind, {})[key] = at
        self.cells.append((tuple(ids.tolist()), tuple(values.tolist())))
        self.cell_ids[at], self.cell_values[at] = ids, values
        return at


class MemoEncoder:
    """:class:`FeatureEncoder`'s ``encode_records`` / ``encode_columns`` through per-field memos.

    ``capacity`` bounds each field's memo (entries); 0 turns memoisation off (every call is the
    general encoder's). Not thread-safe: one thread (the server's event loop) uses it; work
    offloaded to other threads uses the general encoder.
    """

    def __init__(self, encoder: FeatureEncoder, capacity: int = 16_384) -> None:
        self.encoder = encoder
        self.capacity = capacity
        self._memos = tuple(_FieldMemo(encoder, f, capacity) for f in encoder.fields)
        self._by_field = {id(m.field): m for m in self._memos}
        self._sources = frozenset(encoder.sources)
        self._width = encoder.num_slots

    def encode_records(self, records: Sequence[Any]) -> EncodedBatch:
        """Same result (or the same :class:`EncodingError`) as ``FeatureEncoder.encode_records``."""
        if not self.capacity:
            return self.encoder.encode_records(records)
        try:
            return self._records(records)
        except _Fallback:
            return self.encoder.encode_records(records)

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any]], n_rows: int, fields: Sequence[FieldEncoder] | None = None
    ) -> EncodedBatch:
        """Same result (or the same :class:`EncodingError`) as ``FeatureEncoder.encode_columns``."""
        if not self.capacity:
            return self.encoder.encode_columns(columns, n_rows, fields)
        try:
            return self._columns(columns, n_rows, fields)
        except _Fallback:
            return self.encoder.encode_columns(columns, n_rows, fields)

    def encode_fields(self, record: Mapping[str, Any], fields: Sequence[FieldEncoder]) -> tuple[np.ndarray, np.ndarray]:
        """One record's ids and values (m,) on the slots of ``fields`` only, in their order.

        The same as ``encode_columns({key: [value]}, 1, fields)`` on those slots (or its
        :class:`EncodingError`), built from the fields' cells: a ranking context costs a few dict
        lookups instead of a (1, M) batch per field.
        """
        if self.capacity:
            try:
                ids: list[int] = []
                values: list[float] = []
                get = record.get
                for field in fields:
                    memo = self._by_field[id(field)]
                    cell_ids, cell_values = memo.cell(get(memo.source))
                    ids += cell_ids
                    values += cell_values
                return np.array(ids, dtype=np.int64), np.array(values, dtype=np.float32)
            except _Fallback:
                pass
        batch = self.encoder.encode_columns({key: [value] for key, value in record.items()}, 1, fields)
        slots = np.concatenate([np.arange(f.slot_start, f.slot_start + f.spec.slots) for f in fields]) if fields else []
        return batch.ids[0, slots], batch.values[0, slots]

    def _records(self, records: Sequence[Any]) -> EncodedBatch:
        sources = self._sources
        for record in records:
            if type(record) is not dict or not sources.issuperset(record):
                raise _Fallback
        if len(records) != 1:
            columns = {m.source: [record.get(m.source) for record in records] for m in self._memos}
            return self._columns(columns, len(records), None)
        ids: list[int] = []
        values: list[float] = []
        get = records[0].get
        for memo in self._memos:  # fields in slot order: the cells concatenate into the row
            cell_ids, cell_values = memo.cell(get(memo.source))
            ids += cell_ids
            values += cell_values
        return EncodedBatch(np.array([ids], dtype=np.int64), np.array([values], dtype=np.float32))

    def _columns(
        self, columns: Mapping[str, Sequence[Any]], n_rows: int, fields: Sequence[FieldEncoder] | None
    ) -> EncodedBatch:
        memos = self._memos if fields is None else [self._by_field[id(f)] for f in fields]
        ids, values = self.encoder.blank(n_rows)
        for memo in memos:
            column = columns.get(memo.source)
            if column is None or len(column) != n_rows or not n_rows:
                if column is None and n_rows and not memo.field.spec.required:
                    values[:, memo.field.slot_start] = 1.0  # a missing optional field: OOV with value 1
                    continue
                raise _Fallback
            at = memo.positions(column)
            ids[:, memo.slots] = memo.cell_ids[at]
            values[:, memo.slots] = memo.cell_values[at]
        return EncodedBatch(ids, values)


Encoder = FeatureEncoder | MemoEncoder  # what request parsing accepts: either encodes identically
