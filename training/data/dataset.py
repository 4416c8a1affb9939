"""A dataset read into memory: kept rows, binary labels, the split, where every row came from, drops.

This is what training uses (``training.pipeline.prepare``); ``training.data.inspection`` streams the
same steps chunk by chunk instead, and plans the same split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.encoding import EncodedBatch, FeatureEncoder
from contract.schema import SPLIT_PARTS, DatasetSchema, FieldSpec, SplitSpec
from contract.values import EncodingError
from training.data.chunks import DEFAULT_CHUNK_ROWS, Chunk, describe_position
from training.data.errors import DataError, located, no_rows
from training.data.labels import derive
from training.data.readers import iter_chunks
from training.data.source import resolve_path
from training.data.split import Split, given_split, plan_split

# A part of a given split may be several files or directories (e.g. the days of a training window).
DataArg = str | Path | Mapping[str, str | Path | Sequence[str | Path]] | None
Location = Path | tuple[Path, ...] | None


def location_of(value: str | Path | Sequence[str | Path]) -> Path | tuple[Path, ...]:
    if isinstance(value, str | Path):
        return Path(value).expanduser()
    return tuple(Path(v).expanduser() for v in value)


def describe_location(location: Location) -> str:
    return ", ".join(map(str, location)) if isinstance(location, tuple) else str(location)


@dataclass(frozen=True)
class Origins:
    """The file and line of every row, so an error found after reading can still point at its line."""

    paths: tuple[str, ...]
    units: tuple[str, ...]
    to_lines: tuple[Callable[[int], int] | None, ...]
    file: np.ndarray  # (n,) int32 index into paths
    line: np.ndarray  # (n,) int64

    def where(self, row: int) -> str:
        f = int(self.file[row])
        return describe_position(self.paths[f], self.units[f], int(self.line[row]), self.to_lines[f])


@dataclass(frozen=True)
class Dataset:
    """Kept rows only: ``columns`` (raw), ``labels`` (n,) float32, their ``split`` and ``origins``."""

    columns: dict[str, np.ndarray]
    labels: np.ndarray
    split: Split
    origins: Origins
    dropped: dict[str, int]

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: column[rows] for name, column in self.columns.items()}


def part_locations(schema: DatasetSchema, data: DataArg, split: SplitSpec) -> dict[str, Location]:
    """``{"all": path}``, or one path per part for the given split (CLI ``part=path`` or ``split.files``)."""
    if isinstance(data, Mapping):
        if split.method != "given":
            raise DataError(f"--data train=/validation=/test= paths need the given split, not {split.method!r}")
        missing = [p for p in SPLIT_PARTS if p not in data]
        unknown = [p for p in data if p not in SPLIT_PARTS]
        if missing or unknown:
            raise DataError(f"--data: give exactly train=, validation= and test= paths (missing {missing or unknown})")
        return {part: location_of(data[part]) for part in SPLIT_PARTS}
    if split.method != "given":
        return {"all": None if data is None else Path(data).expanduser()}
    if split.files is None:
        raise DataError(
            "the given split needs one path per part: split.files in the schema, or the data given as "
            "train=<path> validation=<path> test=<path>"
        )
    if data is not None:
        raise DataError("the schema's split.files name the data; drop --data (or give train=/validation=/test=)")
    return {part: resolve_path(schema, split.files[part]) for part in SPLIT_PARTS}


def read_dataset(
    schema: DatasetSchema, data: DataArg = None, split: SplitSpec | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Dataset:
    """Read every row into memory, drop those without a label (or timestamp, for a time split), split."""
    split = split or schema.split
    locations = part_locations(schema, data, split)
    reader = _Reader(schema, timestamps=split.method == "time")
    rows = {part: reader.read(iter_chunks(schema, path, chunk_rows)) for part, path in locations.items()}
    if split.method == "given":
        parts = given_split(rows, {part: describe_location(path) for part, path in locations.items()})
    else:
        if rows["all"] == 0:
            raise no_rows(str(locations["all"] or schema.name), reader.dropped)
        parts = plan_split(rows["all"], split, reader.timestamps())
    return reader.dataset(parts)


def fit_encoder(fields: Sequence[FieldSpec], dataset: Dataset, rows: np.ndarray) -> FeatureEncoder:
    """Fit the contract on ``rows`` (the training part); bad values are errors naming their line."""
    try:
        return FeatureEncoder.fit(fields, [dataset.rows(rows)])
    except EncodingError as exc:
        raise located(exc, lambda r: dataset.origins.where(int(rows[r]))) from None


def encode_rows(encoder: FeatureEncoder, dataset: Dataset, rows: np.ndarray) -> EncodedBatch:
    """Encode ``rows`` of the dataset; bad values are errors naming their line."""
    try:
        return encoder.encode_columns(dataset.rows(rows), len(rows))
    except EncodingError as exc:
        raise located(exc, lambda r: dataset.origins.where(int(rows[r]))) from None


class _Reader:
    """Accumulates kept rows over chunks (and over the parts of a given split)."""

    def __init__(self, schema: DatasetSchema, timestamps: bool) -> None:
        self.schema = schema
        self.want_timestamps = timestamps
        self.chunks: list[Chunk] = []
        self.labels: list[np.ndarray] = []
        self.stamps: list[np.ndarray] = []
        self.dropped: Counter = Counter()

    def read(self, chunks: Iterable[Chunk]) -> int:
        """Read chunks; returns how many rows were kept."""
        kept = 0
        for chunk in chunks:
            derived = derive(chunk, self.schema, self.want_timestamps)
            self.dropped.update(derived.dropped)
            self.chunks.append(chunk.take(derived.keep))
            self.labels.append(derived.labels)
            if derived.timestamps is not None:
                self.stamps.append(derived.timestamps)
            kept += len(derived.labels)
        return kept

    def timestamps(self) -> np.ndarray | None:
        return np.concatenate(self.stamps) if self.want_timestamps and self.stamps else None

    def dataset(self, split: Split) -> Dataset:
        chunks = self.chunks
        paths = tuple(dict.fromkeys(c.path for c in chunks))
        index = {p: i for i, p in enumerate(paths)}
        first = {c.path: c for c in reversed(chunks)}
        origins = Origins(
            paths=paths,
            units=tuple(first[p].unit for p in paths),
            to_lines=tuple(first[p].to_line for p in paths),
            file=np.concatenate([np.full(len(c), index[c.path], np.int32) for c in chunks]),
            line=np.concatenate([c.lines for c in chunks]),
        )
        names = chunks[0].columns.keys()
        columns = {name: np.concatenate([c.columns[name] for c in chunks]) for name in names}
        return Dataset(columns, np.concatenate(self.labels), split, origins, dict(self.dropped))
