"""Readers: turn a dataset's files into a table of raw columns (``dict[str, np.ndarray]``).

Which reader runs is declared in the schema's ``[source]`` table: ``reader = "ml100k"`` for the
built-in MovieLens-100k, or ``format = "csv" | "tsv"`` for a user's file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from contract.schema import DatasetSchema
from training.data.errors import DataError

Table = dict[str, np.ndarray]


def load_table(schema: DatasetSchema, data: str | Path | None = None) -> Table:
    """Read the dataset a schema describes. ``data`` is the path of the user's file(s)."""
    reader = schema.source.get("reader")
    if reader == "ml100k":
        from training.data.ml100k import read_ml100k

        return read_ml100k()
    if reader is not None:
        raise DataError(f"source.reader: unknown reader {reader!r} (known: ml100k)")
    fmt = schema.source.get("format")
    if data is None:
        raise DataError(f"dataset {schema.name!r} needs --data <path> (its schema declares format={fmt!r})")
    path = Path(data)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "\t" if fmt == "tsv" else schema.source.get("delimiter", ","))
    raise DataError(f"source.format: unsupported format {fmt!r}")


def _read_delimited(path: Path, delimiter: str) -> Table:
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse ({exc})") from exc
    return {name: frame[name].to_numpy(dtype=object) for name in frame.columns}
