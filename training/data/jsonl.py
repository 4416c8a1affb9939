"""JSON lines: one JSON object per line, keyed by raw column; blank lines are skipped.

Values keep their JSON types (lists for multi-valued fields, ``{value: weight}`` objects for
``weighting = "given"``); a key absent from a record is a missing value, but a column the schema
reads that no record of a file has is an error (it is usually a misspelt key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson

from contract.schema import DatasetSchema
from training.data.chunks import Chunk, object_array
from training.data.errors import DataError
from training.data.source import SourceSpec, needed_columns
from training.data.textfile import open_binary


def make_reader(schema: DatasetSchema, spec: SourceSpec) -> Callable[[Path, int], Iterator[Chunk]]:
    needed = needed_columns(schema, spec)
    utf8 = spec.encoding.replace("_", "-").lower() in ("utf-8", "utf8")

    def read(path: Path, chunk_rows: int) -> Iterator[Chunk]:
        seen: set[str] = set()
        values: dict[str, list] = {c: [] for c in needed}
        lines: list[int] = []
        records = 0
        with open_binary(path) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                record = _parse(line if utf8 else line.decode(spec.encoding), path, number)
                seen.update(record.keys() & values.keys())
                for column, out in values.items():
                    out.append(record.get(column))
                lines.append(number)
                records += 1
                if len(lines) == chunk_rows:
                    yield _chunk(values, lines, path)
                    values, lines = {c: [] for c in needed}, []
        if lines:
            yield _chunk(values, lines, path)
        missing = [c for c in needed if c not in seen]
        if missing and records:
            raise DataError(f"{path}: no record has the key(s) {', '.join(map(repr, missing))} that the schema reads")

    return read


def _parse(line: bytes | str, path: Path, number: int) -> dict:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{path}, line {number}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
    return record


def _chunk(values: dict[str, list], lines: list[int], path: Path) -> Chunk:
    columns = {c: object_array(v) for c, v in values.items()}
    return Chunk(columns, str(path), np.asarray(lines, dtype=np.int64))
