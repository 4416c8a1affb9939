"""CSV and TSV files, streamed with pyarrow's CSV reader; every value stays a raw string.

The reader is strict: a row with more or fewer fields than the header is an error naming its line.
Blank lines are skipped and quoted values may span lines. pyarrow counts records, not lines, so
whenever an error needs a line number the file is re-read with :mod:`csv` to find it (errors are
rare; reading stays at pyarrow's speed). An empty value is *missing*.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from contract.schema import DatasetSchema
from training.data.chunks import Chunk
from training.data.errors import DataError
from training.data.source import SourceSpec, needed_columns
from training.data.textfile import open_binary

_BLOCK_BYTES = 1 << 22


def make_reader(schema: DatasetSchema, spec: SourceSpec) -> Callable[[Path, int], Iterator[Chunk]]:
    needed = needed_columns(schema, spec)

    def read(path: Path, chunk_rows: int) -> Iterator[Chunk]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        header = list(spec.columns) if spec.columns else _header(path, spec)
        if header is None:
            return  # an empty file holds no rows
        missing = [c for c in needed if c not in header]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {', '.join(map(repr, missing))} that the schema reads "
                f"(the header has {', '.join(map(repr, header))})"
            )
        options = {
            "read_options": pcsv.ReadOptions(
                column_names=header, skip_rows=1 if spec.header else 0, encoding=spec.encoding, block_size=_BLOCK_BYTES
            ),
            "parse_options": pcsv.ParseOptions(delimiter=spec.separator, newlines_in_values=True),
            "convert_options": pcsv.ConvertOptions(
                column_types={c: pa.string() for c in header}, include_columns=needed, strings_can_be_null=False
            ),
        }
        row = 1
        to_line = functools.partial(_line_of_record, path, spec)
        try:
            # A native stream, not a Python file object: the reader reads ahead on a thread of its own,
            # and a thread blocked on a Python file at interpreter exit aborted the process ("terminate
            # called without an active exception", exit 134) after a parse error had been reported.
            with pa.input_stream(str(path), compression="detect") as stream:
                reader = pcsv.open_csv(stream, **options)
                try:
                    pending: list = []
                    for batch in reader:
                        pending.append(batch)
                        table = pa.Table.from_batches(pending)
                        while table.num_rows >= chunk_rows:
                            yield _chunk(table.slice(0, chunk_rows), needed, path, row, to_line)
                            row += chunk_rows
                            table = table.slice(chunk_rows)
                        pending = table.to_batches()
                    if pending:
                        yield _chunk(pa.Table.from_batches(pending), needed, path, row, to_line)
                finally:
                    reader.close()  # stop the read-ahead before the stream closes (an error, an abandoned read)
        except pa.ArrowInvalid as exc:
            problem = _bad_line(path, spec, len(header)) or str(exc)
            raise DataError(f"{path}: cannot parse as {spec.format} ({problem})") from None

    return read


def _header(path: Path, spec: SourceSpec) -> list[str] | None:
    with open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding=spec.encoding, newline="")
        try:
            return next(csv.reader(text, delimiter=spec.separator), None)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: the header is not {spec.encoding} text ({exc})") from None


def _chunk(table: Any, needed: list[str], path: Path, first: int, to_line: Callable[[int], int]) -> Chunk:
    """Raw string columns of a pyarrow Table whose first record is record number ``first``."""
    columns = {c: table.column(c).to_numpy().astype(object, copy=False) for c in needed}
    return Chunk(columns, str(path), np.arange(first, first + table.num_rows, dtype=np.int64), "row", to_line)


def _records(path: Path, spec: SourceSpec) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of every non-blank record after the header, read with the csv module."""
    with open_binary(path) as fh:
        text = io.TextIOWrapper(fh, encoding=spec.encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=spec.separator)
        if spec.header:
            next(reader, None)
        line = reader.line_num
        for record in reader:
            if record:
                yield line + 1, record  # blank lines were read as empty records
            line = reader.line_num


def _line_of_record(path: Path, spec: SourceSpec, number: int) -> int:
    """The line on which the ``number``-th record (1-based, header excluded) starts."""
    for i, (line, _) in enumerate(_records(path, spec), start=1):
        if i == number:
            return line
    raise AssertionError(f"{path} has fewer than {number} records")


def _bad_line(path: Path, spec: SourceSpec, width: int) -> str | None:
    """The first record whose field count is wrong, as a message naming its line."""
    for line, record in _records(path, spec):
        if len(record) != width:
            return f"line {line}: expected {width} fields, found {len(record)}"
    return None
