"""Parquet files, read with pyarrow one record batch at a time (only the columns the schema reads).

Strings stay strings, numbers stay numbers (an integer column with nulls arrives as floats with NaN,
which the contract reads as missing), list columns become Python lists and map columns dicts (the
``{value: weight}`` form of a ``weighting = "given"`` field). Errors name the row (1-based).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from contract.schema import DatasetSchema
from training.data.chunks import Chunk, object_array
from training.data.errors import DataError
from training.data.source import SourceSpec, needed_columns


def make_reader(schema: DatasetSchema, spec: SourceSpec) -> Callable[[Path, int], Iterator[Chunk]]:
    needed = needed_columns(schema, spec)

    def read(path: Path, chunk_rows: int) -> Iterator[Chunk]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: cannot read as parquet ({exc})") from exc
        names = file.schema_arrow.names
        missing = [c for c in needed if c not in names]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(map(repr, missing))} that the schema reads "
                f"(the file has {', '.join(map(repr, names))})"
            )
        row = 1
        for batch in file.iter_batches(batch_size=chunk_rows, columns=needed):
            columns = {name: _to_numpy(batch.column(name), pa) for name in needed}
            yield Chunk(columns, str(path), np.arange(row, row + batch.num_rows, dtype=np.int64), unit="row")
            row += batch.num_rows

    return read


def _to_numpy(column: Any, pa: Any) -> np.ndarray:  # pyarrow is imported lazily, hence Any
    kind = column.type
    if pa.types.is_map(kind):
        return object_array([None if v is None else dict(v) for v in column.to_pylist()])
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
        return object_array(column.to_pylist())
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_boolean(column.type):
        return object_array(column.to_pylist())
    return column.to_numpy(zero_copy_only=False)
