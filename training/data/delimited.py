"""CSV and TSV files, read with pandas in chunks of rows; every value stays a raw string.

Blank lines are kept as rows (of empty values), so a row's line number is its position in the file
plus the header line: errors can name the line. An empty value is *missing*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from contract.schema import DatasetSchema
from training.data.chunks import Chunk
from training.data.errors import DataError
from training.data.source import SourceSpec, needed_columns


def make_reader(schema: DatasetSchema, spec: SourceSpec) -> Callable[[Path, int], Iterator[Chunk]]:
    needed = needed_columns(schema, spec)

    def read(path: Path, chunk_rows: int) -> Iterator[Chunk]:
        import pandas as pd

        options = {
            "sep": spec.separator,
            "dtype": str,
            "keep_default_na": False,
            "skip_blank_lines": False,
            "encoding": spec.encoding,
            "header": 0 if spec.header else None,
            "names": list(spec.columns) if spec.columns else None,
        }
        try:
            if spec.header:
                columns = list(pd.read_csv(path, nrows=0, **options).columns)
                missing = [c for c in needed if c not in columns]
                if missing:
                    raise DataError(
                        f"{path}: missing column(s) {', '.join(map(repr, missing))} that the schema reads "
                        f"(the header has {', '.join(map(repr, columns))})"
                    )
            line = 2 if spec.header else 1
            for frame in pd.read_csv(path, usecols=needed, chunksize=chunk_rows, **options):
                n = len(frame)
                columns = {c: frame[c].to_numpy(dtype=object) for c in needed}
                yield Chunk(columns, str(path), np.arange(line, line + n, dtype=np.int64))
                line += n
        except DataError:
            raise
        except pd.errors.EmptyDataError:
            return  # an empty file (no header either) holds no rows
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(f"{path}: cannot parse as {spec.format} ({exc})") from exc

    return read
