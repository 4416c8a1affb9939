"""A chunk of rows read from one file: raw columns plus where each row came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Chunk:
    """``columns`` maps raw column names to (n,) arrays; ``lines`` holds each row's 1-based line
    (or, for binary formats, row) number in ``path`` so errors can point at it."""

    columns: dict[str, np.ndarray]
    path: str
    lines: np.ndarray  # (n,) int64
    unit: str = "line"

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, row: int) -> str:
        """``data.csv, line 12``: the position of a row for an error message."""
        return f"{self.path}, {self.unit} {int(self.lines[row])}"

    def take(self, rows: np.ndarray) -> Chunk:
        """The rows selected by an index or boolean array."""
        return Chunk({k: v[rows] for k, v in self.columns.items()}, self.path, self.lines[rows], self.unit)


def object_array(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (lists stay list elements instead of becoming a 2-d array)."""
    return np.fromiter(values, dtype=object, count=len(values))
