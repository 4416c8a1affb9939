"""``ctr replay``: a click log rewritten as daily partitions, so a nightly job can run on it night after night.

Every row goes to the partition of its timestamp's UTC date, as Parquet with the raw columns
unchanged (strings stay strings)::

    <out>/date=2026-11-01/part-0.parquet
    <out>/date=2026-11-02/part-0.parquet

``shift_to`` moves every timestamp by whole days so that the last day of the log lands on a given
date (e.g. yesterday, so today's nightly job finds "yesterday's" data); order within a day is kept.
A partition is written to a hidden temporary file and renamed into place: a partially written day
is never visible to a reader, and a re-run rewrites only what it is asked to.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contract.schema import DatasetSchema
from training.data.chunks import Chunk
from training.data.errors import DataError
from training.data.labels import to_seconds
from training.data.readers import load_table

DAY = 86_400
PARTITION = "date={}"
PART_FILE = "part-0.parquet"


@dataclass(frozen=True)
class ReplayResult:
    days: int
    rows: int
    first: str
    last: str
    shift_days: int


def write_daily_partitions(
    schema: DatasetSchema, data: str | Path | None, out: Path, shift_to: dt.date | None = None, force: bool = False
) -> ReplayResult:
    """Write one Parquet partition per UTC day of the schema's timestamp column (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if schema.timestamp is None:
        raise DataError(f"dataset {schema.name!r} has no timestamp column to cut days on")
    table = load_table(schema, data)
    where = Chunk(table, str(data or schema.name), np.arange(1, len(table[schema.timestamp]) + 1), "row", None)
    seconds = to_seconds(table[schema.timestamp], where, f"timestamp column {schema.timestamp!r}")
    keep = ~np.isnan(seconds)
    days = np.floor(seconds[keep] / DAY).astype(np.int64)
    if not len(days):
        raise DataError(f"{where.path}: no rows with a timestamp")
    shift = 0 if shift_to is None else (shift_to - dt.date(1970, 1, 1)).days - int(days.max())
    order = np.argsort(days, kind="stable")
    rows = np.flatnonzero(keep)[order]
    days = days[order] + shift
    out.mkdir(parents=True, exist_ok=True)
    bounds = np.flatnonzero(np.diff(days)) + 1
    for chunk_rows, day in zip(np.split(rows, bounds), days[np.r_[0, bounds]], strict=True):
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()
        target = out / PARTITION.format(date) / PART_FILE
        if target.exists() and not force:
            continue
        columns = {name: column[chunk_rows] for name, column in table.items()}
        if shift:
            stamps = to_seconds(columns[schema.timestamp], where, "timestamp") + shift * DAY
            columns[schema.timestamp] = np.array([str(int(s)) for s in stamps], dtype=object)
        arrow = pa.table({name: pa.array(_as_strings(values), pa.string()) for name, values in columns.items()})
        target.parent.mkdir(exist_ok=True)
        tmp = target.parent / f".{PART_FILE}.{os.getpid()}.tmp"
        pq.write_table(arrow, tmp)
        os.replace(tmp, target)
    first, last = (dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in (days[0], days[-1]))
    return ReplayResult(len(bounds) + 1, len(rows), first.isoformat(), last.isoformat(), shift)


def _as_strings(values: np.ndarray) -> list[str | None]:
    """Raw values as the text a CSV would hold (None stays missing)."""
    return [None if v is None else v if isinstance(v, str) else str(v) for v in values.tolist()]


def partition_dates(root: Path) -> list[dt.date]:
    """The dates of the partitions under ``root`` that hold a visible part file (of any format), ascending."""
    dates = []
    for path in root.glob(PARTITION.format("*")):
        if any(not p.name.startswith(".") for p in path.glob("part-*")):
            try:
                dates.append(dt.date.fromisoformat(path.name.split("=", 1)[1]))
            except ValueError:
                continue
    return sorted(dates)


def partition_path(root: Path, day: dt.date) -> Path:
    return root / PARTITION.format(day.isoformat())
