"""Shards -> encoded chunks -> a shuffle buffer -> (augmented) mini-batches, in bounded memory.

Each rank reads its shards in a fresh random order every epoch, ``chunk_rows`` rows at a time (one
Parquet record batch), keeps the rows with a label and encodes them with the fitted contract. Chunks
fill a buffer of ``buffer_rows`` rows; a full buffer is augmented (``training.augment.epoch_data``:
MixFM/SMFM partners are drawn from the same buffer), permuted and cut into mini-batches. Memory is
one buffer (and its mixes), whatever the number of rows; the rows a buffer leaves short of a whole
batch wait for the next buffer, so every batch but the last is full.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from contract.encoding import FeatureEncoder
from contract.schema import DatasetSchema
from contract.values import EncodingError
from training.augment import concat
from training.data.errors import located
from training.data.labels import derive
from training.data.readers import iter_file_chunks
from training.stream.shards import Shard
from training.tensors import Tensors

Augment = Callable[[Tensors], Tensors]


def encoded_chunks(
    schema: DatasetSchema, encoder: FeatureEncoder, shards: Iterable[Shard], chunk_rows: int
) -> Iterator[Tensors]:
    """The labelled rows of ``shards``, in order, encoded, at most ``chunk_rows`` per chunk."""
    for shard in shards:
        for chunk in iter_file_chunks(schema, shard.file, chunk_rows):
            derived = derive(chunk, schema, timestamps=False)
            kept = chunk.take(derived.keep)
            try:
                batch = encoder.encode_columns(kept.columns, len(kept))
            except EncodingError as exc:
                raise located(exc, kept.where) from None
            yield Tensors(torch.from_numpy(batch.ids), torch.from_numpy(batch.values), torch.from_numpy(derived.labels))


def shuffled_shards(shards: list[Shard], generator: torch.Generator) -> list[Shard]:
    return [shards[i] for i in torch.randperm(len(shards), generator=generator).tolist()]


def training_batches(
    chunks: Iterable[Tensors],
    buffer_rows: int,
    batch_size: int,
    generator: torch.Generator,
    augment: Augment | None = None,
    timings: dict[str, float] | None = None,
) -> Iterator[Tensors]:
    """Mini-batches of ``batch_size`` rows (the last may be short) from buffers of ``buffer_rows`` rows.

    ``augment`` turns a buffer's rows into the rows trained on (e.g. originals + mixes); ``timings``
    receives the seconds spent in it under "augment". At most one buffer is held (being filled, or
    being cut into batches) besides the copies that concatenating and permuting it make.
    """
    pending: list[Tensors] = []
    held = 0
    carry: Tensors | None = None  # the rows of the previous buffer short of a whole batch
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= buffer_rows:
            rows = _prepare(pending, generator, augment, timings)
            pending, held = [], 0
            carry = yield from _cut(rows, carry, batch_size)
            del rows  # its batches are trained: let it go before the next buffer fills
    if pending:
        rows = _prepare(pending, generator, augment, timings)
        pending = []
        carry = yield from _cut(rows, carry, batch_size)
    if carry is not None and len(carry):
        yield carry


def _prepare(
    pending: list[Tensors], generator: torch.Generator, augment: Augment | None, timings: dict[str, float] | None
) -> Tensors:
    """One buffer: the pending chunks (emptied as they are copied) permuted, augmented first if asked."""
    if augment is None:
        return _permuted(pending, generator)
    rows = concat(*pending)
    pending.clear()  # the chunks are copied into ``rows``: free them before augmenting and permuting
    started = time.perf_counter()
    rows = augment(rows)
    if timings is not None:
        timings["augment"] = timings.get("augment", 0.0) + time.perf_counter() - started
    return rows.take(torch.randperm(len(rows), generator=generator))


def _permuted(pending: list[Tensors], generator: torch.Generator) -> Tensors:
    """The chunks' rows in a uniformly random order: row i of their concatenation goes to ``order[i]``.

    Each chunk is copied straight to its rows' places and dropped, so the buffer exists once (plus a
    chunk) instead of as the chunks, their concatenation and its permutation.
    """
    n = sum(len(c) for c in pending)
    order = torch.randperm(n, generator=generator)
    first = pending[0]
    out = Tensors(first.ids.new_empty((n, *first.ids.shape[1:])), first.values.new_empty((n, *first.values.shape[1:])),
                  first.labels.new_empty(n))  # fmt: skip
    offset = 0
    while pending:
        chunk = pending.pop(0)
        where = order[offset : offset + len(chunk)]
        out.ids.index_copy_(0, where, chunk.ids)
        out.values.index_copy_(0, where, chunk.values)
        out.labels.index_copy_(0, where, chunk.labels)
        offset += len(chunk)
    return out


def _cut(rows: Tensors, carry: Tensors | None, batch_size: int) -> Generator[Tensors, None, Tensors]:
    """Yield whole batches of ``carry`` + ``rows`` (views of ``rows``; only a batch that completes the
    carry is copied); return the rest, fewer than ``batch_size`` rows, as a copy."""
    start = 0
    if carry is not None and len(carry):
        start = min(batch_size - len(carry), len(rows))
        carry = concat(carry, _rows(rows, 0, start))
        if len(carry) < batch_size:
            return carry
        yield carry
    whole = start + (len(rows) - start) // batch_size * batch_size
    for at in range(start, whole, batch_size):
        yield _rows(rows, at, at + batch_size)
    rest = _rows(rows, whole, len(rows))
    return Tensors(rest.ids.clone(), rest.values.clone(), rest.labels.clone())


def _rows(rows: Tensors, start: int, stop: int) -> Tensors:
    return Tensors(rows.ids[start:stop], rows.values[start:stop], rows.labels[start:stop])


def sample_records(schema: DatasetSchema, shard: Shard, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a shard as a client sends them (JSON types, None for missing values)."""
    chunk = next(iter_file_chunks(schema, shard.file, n))
    records = []
    for r in range(min(n, len(chunk))):
        record = {}
        for source in schema.sources:
            value = chunk.columns[source][r]
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            record[source] = value
        records.append(record)
    return records
