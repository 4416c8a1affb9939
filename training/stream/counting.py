"""The counting pass of a streamed job: value counts per shard, merged into the vocabulary's counts.

Counts are mergeable (``contract.fitting.ValueCounts.merge``), so shards are counted independently: in
``workers`` processes in a single-process job, or each rank its own shards in a distributed one (the
trainer gathers and merges them, so every rank builds the same vocabulary). Only rows with a label
count, as in the in-memory pipeline. Memory per process: one chunk plus the counts (which grow with
distinct values, never with rows).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from tqdm.auto import tqdm

from contract.fitting import ValueCounts
from contract.schema import DatasetSchema
from contract.values import EncodingError
from training.data.errors import DataError, located
from training.data.labels import derive
from training.data.readers import iter_file_chunks
from training.stream.shards import Shard


@dataclass
class ShardCounts:
    """Value counts of some shards' rows and how many rows each shard kept (had a label)."""

    counts: ValueCounts
    rows: dict[str, int]  # shard path -> kept rows

    def merge(self, other: ShardCounts) -> ShardCounts:
        self.counts.merge(other.counts)
        self.rows.update(other.rows)
        return self


def check_streamable(schema: DatasetSchema) -> None:
    """Refuse fields whose fitting needs every training value in memory (quantile buckets)."""
    bound = ValueCounts(schema.fields).row_bound()
    if bound:
        index = next(i for i, f in enumerate(schema.fields) if f.name in bound)
        raise DataError(
            f"fields[{index}].buckets ({bound[0]}): quantile buckets keep every training value in memory; "
            "a streamed job needs log = true or fixed boundaries for numeric fields"
        )


def count_shard(schema: DatasetSchema, shard: Shard, chunk_rows: int) -> ShardCounts:
    """Counts of one shard's labelled rows; a bad value is an error naming its file and row."""
    counts, kept_rows = ValueCounts(schema.fields), 0
    for chunk in iter_file_chunks(schema, shard.file, chunk_rows):
        kept = chunk.take(derive(chunk, schema, timestamps=False).keep)
        try:
            counts.add(kept.columns)
        except EncodingError as exc:
            raise located(exc, kept.where) from None
        kept_rows += len(kept)
    return ShardCounts(counts, {str(shard.path): kept_rows})


def count_shards(
    schema: DatasetSchema, shards: list[Shard], chunk_rows: int, workers: int = 1, progress: bool = True
) -> ShardCounts:
    """Counts of every shard, merged (``workers`` > 1: counted in that many processes)."""
    check_streamable(schema)
    total = ShardCounts(ValueCounts(schema.fields), {})
    bar = tqdm(total=sum(s.rows for s in shards), unit="row", unit_scale=True, desc="count",
               disable=None if progress else True)  # fmt: skip
    if workers <= 1 or len(shards) <= 1:
        parts = (count_shard(schema, shard, chunk_rows) for shard in shards)
        for shard, part in zip(shards, parts, strict=True):
            total.merge(part)
            bar.update(shard.rows)
    else:
        with ProcessPoolExecutor(min(workers, len(shards))) as pool:
            futures = [pool.submit(count_shard, schema, shard, chunk_rows) for shard in shards]
            for shard, future in zip(shards, futures, strict=True):
                total.merge(future.result())
                bar.update(shard.rows)
    bar.close()
    return total
