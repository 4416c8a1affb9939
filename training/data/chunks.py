"""A chunk of rows read from one file: raw columns plus where each row came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Chunk:
    """``columns`` maps raw column names to (n,) arrays; ``lines`` holds each row's 1-based line
    (or, for binary formats, row) number in ``path`` so errors can point at it.

    A reader that only counts records (CSV: pyarrow reports no lines) stores record numbers with
    ``unit = "row"`` and a ``to_line`` that finds a record's line by re-reading the file, which
    only an error message ever needs.
    """

    columns: dict[str, np.ndarray]
    path: str
    lines: np.ndarray  # (n,) int64
    unit: str = "line"
    to_line: Callable[[int], int] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, row: int) -> str:
        """``data.csv, line 12``: the position of a row for an error message."""
        return describe_position(self.path, self.unit, int(self.lines[row]), self.to_line)

    def take(self, rows: np.ndarray) -> Chunk:
        """The rows selected by an index or boolean array."""
        columns = {k: v[rows] for k, v in self.columns.items()}
        return Chunk(columns, self.path, self.lines[rows], self.unit, self.to_line)


def describe_position(path: str, unit: str, number: int, to_line: Callable[[int], int] | None = None) -> str:
    if to_line is not None:
        return f"{path}, line {to_line(number)}"
    return f"{path}, {unit} {number}"


def object_array(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (lists stay list elements instead of becoming a 2-d array)."""
    return np.fromiter(values, dtype=object, count=len(values))
