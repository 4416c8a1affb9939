"""Readers: turn a dataset's files into raw columns, streamed in chunks of rows.

Which reader runs is declared in the schema's ``[source]`` table (see :mod:`training.data.source`):
``reader = "ml100k"`` for the built-in MovieLens-100k, or ``format = csv | tsv | parquet | jsonl |
libfm | libsvm`` for a user's file or directory. :func:`iter_chunks` never holds more than one chunk,
so a file larger than memory can still be counted and its vocabulary fitted;
:func:`load_table` concatenates the chunks for in-memory use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from contract.schema import DatasetSchema
from training.data import delimited, jsonl, libfm, parquet
from training.data.chunks import DEFAULT_CHUNK_ROWS, Chunk
from training.data.errors import DataError
from training.data.files import DataFile, list_files
from training.data.source import SourceSpec, parse_source

Table = dict[str, np.ndarray]
_FORMATS: dict[str, Callable[[DatasetSchema, SourceSpec], Callable[[Path, int], Iterator[Chunk]]]] = {
    "csv": delimited.make_reader,
    "tsv": delimited.make_reader,
    "parquet": parquet.make_reader,
    "jsonl": jsonl.make_reader,
    "libfm": libfm.make_reader,
    "libsvm": libfm.make_reader,
}


def iter_chunks(
    schema: DatasetSchema, path: str | Path | Sequence[str | Path] | None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[Chunk]:
    """Raw columns of the data at ``path``, at most ``chunk_rows`` rows per chunk (a chunk never spans files).

    ``path`` may also be several files or directories, read in the order given. Each chunk holds the
    columns the schema reads (field sources, label, timestamp, partition column).
    """
    if isinstance(path, list | tuple):
        for one in path:
            yield from iter_chunks(schema, one, chunk_rows)
        return
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    spec = parse_source(schema)
    if spec.reader == "ml100k":
        yield from _ml100k_chunks(path, chunk_rows)
        return
    if path is None:
        raise DataError(
            f"dataset {schema.name!r} needs a data path (its schema declares format = {spec.format!r}): "
            "`ctr train --data <path>`, `ctr dataset inspect <schema> <path>`"
        )
    for file in list_files(path, spec):
        yield from iter_file_chunks(schema, file, chunk_rows, spec)


def iter_file_chunks(
    schema: DatasetSchema, file: DataFile, chunk_rows: int = DEFAULT_CHUNK_ROWS, spec: SourceSpec | None = None
) -> Iterator[Chunk]:
    """Raw columns of one data file (as :func:`iter_chunks` lists them), with its partition date filled in."""
    spec = spec or parse_source(schema)
    read = _FORMATS[spec.format or ""](schema, spec)
    for chunk in read(file.path, chunk_rows):
        if spec.partition_column is not None:
            chunk.columns[spec.partition_column] = np.full(len(chunk), file.date, dtype=object)
        yield chunk


def load_table(schema: DatasetSchema, data: str | Path | None = None) -> Table:
    """Every row of the data as one table of raw columns (nothing dropped; see ``dataset.read_dataset``)."""
    chunks = list(iter_chunks(schema, data))
    if not chunks:
        raise DataError(f"{data}: no rows")
    return {name: np.concatenate([c.columns[name] for c in chunks]) for name in chunks[0].columns}


def _ml100k_chunks(path: str | Path | None, chunk_rows: int) -> Iterator[Chunk]:
    from training.data.ml100k import REQUIREMENT, read_ml100k

    if path is not None:
        raise DataError("the ml100k reader reads MovieLens-100k from its wheel; drop --data")
    table = read_ml100k()
    n = len(table["rating"])
    for start in range(0, n, chunk_rows):
        end = min(start + chunk_rows, n)
        lines = np.arange(start + 1, end + 1, dtype=np.int64)
        yield Chunk({k: v[start:end] for k, v in table.items()}, f"ml-100k.inter ({REQUIREMENT})", lines, "rating")
