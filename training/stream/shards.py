"""Which shards a streamed job reads: the split by whole partition dates, and each rank's share.

A shard is one data file (e.g. ``date=2024-01-03/part-00017.parquet``). Splitting by date keeps the
split a pure function of the file list (no pass over the rows) and matches how logs arrive: the last
``test_days`` dates are the test part, the ``validation_days`` before them validate, the rest train.
Each rank reads its own shards: the train shards are dealt out largest first to the rank with the
fewest rows so far (equal shards: round robin), and so are validation and test shards for the
evaluation passes, whose counts are then all-reduced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.schema import DatasetSchema
from training.data.errors import DataError
from training.data.files import DataFile, list_files
from training.data.source import parse_source


@dataclass(frozen=True)
class Shard:
    file: DataFile
    rows: int  # rows in the file (Parquet metadata); labels may still drop some

    @property
    def path(self) -> Path:
        return self.file.path


@dataclass(frozen=True)
class ShardSplit:
    train: list[Shard]
    validation: list[Shard]
    test: list[Shard]

    def describe(self) -> dict[str, object]:
        def part(shards: list[Shard]) -> dict[str, object]:
            dates = sorted({s.file.date or "" for s in shards})
            return {"shards": len(shards), "rows": sum(s.rows for s in shards), "dates": [dates[0], dates[-1]]}

        return {"method": "by_partition_date", "train": part(self.train), "validation": part(self.validation),
                "test": part(self.test)}  # fmt: skip


def list_shards(schema: DatasetSchema, data: str | Path) -> list[Shard]:
    """Every data file under ``data`` with its row count (Parquet metadata; other formats are counted by reading)."""
    spec = parse_source(schema)
    files = list_files(data, spec)
    if spec.format == "parquet":
        import pyarrow.parquet as pq

        return [Shard(f, pq.ParquetFile(f.path).metadata.num_rows) for f in files]
    from training.data.readers import iter_file_chunks

    return [Shard(f, sum(len(c) for c in iter_file_chunks(schema, f, spec=spec))) for f in files]


def split_by_date(shards: list[Shard], validation_days: int, test_days: int) -> ShardSplit:
    """The last ``test_days`` dates test, the ``validation_days`` before validate, every earlier date trains."""
    if any(s.file.date is None for s in shards):
        raise DataError(
            "streamed training splits by partition date: the schema needs source.partition_column and the "
            "data dated partitions (date=YYYY-MM-DD/...)"
        )
    dates = sorted({s.file.date for s in shards if s.file.date})
    if len(dates) < validation_days + test_days + 1:
        raise DataError(
            f"{len(dates)} partition dates cannot make {test_days} test, {validation_days} validation "
            "and at least one training date"
        )
    test_from = dates[-test_days]
    validation_from = dates[-test_days - validation_days]
    return ShardSplit(
        train=[s for s in shards if (s.file.date or "") < validation_from],
        validation=[s for s in shards if validation_from <= (s.file.date or "") < test_from],
        test=[s for s in shards if (s.file.date or "") >= test_from],
    )


def assign(shards: list[Shard], rank: int, world_size: int) -> list[Shard]:
    """Rank ``rank``'s shards: largest first to the least-loaded rank (ties: the lowest rank), in path order."""
    loads = [0] * world_size
    mine: list[Shard] = []
    for shard in sorted(shards, key=lambda s: (-s.rows, str(s.path))):
        target = min(range(world_size), key=lambda r: (loads[r], r))
        loads[target] += shard.rows
        if target == rank:
            mine.append(shard)
    return sorted(mine, key=lambda s: str(s.path))
