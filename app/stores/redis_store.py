"""The Redis embedding store: rows of one published version, read through an in-process cache.

Ids are hashed feature ids (``contract.encoding``: no vocabulary on the replica). A request's
distinct ids are looked up in the :class:`~app.stores.row_cache.RowCache` first; the rest are fetched in
one round trip: one MGET on a single server, or a pipeline of one MGET per shard on a cluster
(each shard is one hash slot). A key Redis does not hold is a value the model never saw: it gets its
field's OOV row, exactly as the in-process encoder maps it to local id 0. A lookup that fails or
outlives ``CTR_REDIS_TIMEOUT_MS`` raises :class:`~app.errors.StoreUnavailable` (HTTP 503); requests
served entirely from the cache never touch Redis, so they keep working while it is away.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.stores.deadline import within_deadline
from app.stores.redis_client import RedisClient, redis_errors
from app.stores.redis_keys import VersionKeys, unpack_rows
from app.stores.row_cache import RowCache
from contract.hashing import HASH_MASK, hashed_field, hashed_oov

log = logging.getLogger("app")


_SMALL = 256  # below this many ids, a dict finds distinct ids faster than np.unique's sort


def _distinct(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids (U,) and, for each of ``ids`` (any shape), the index of its id among them."""
    if ids.size >= _SMALL:
        features, inverse = np.unique(ids.reshape(-1), return_inverse=True)
        return features, inverse.reshape(ids.shape)
    first: dict[int, int] = {}
    index = [first.setdefault(f, len(first)) for f in ids.reshape(-1).tolist()]
    return np.fromiter(first, dtype=np.int64, count=len(first)), np.array(index, dtype=np.int64).reshape(ids.shape)


class RedisStore:
    """An :class:`~app.stores.memory.EmbeddingStore` over one published version."""

    def __init__(
        self,
        client: RedisClient,
        keys: VersionKeys,
        oov_rows: np.ndarray,
        cache: RowCache,
        metrics: Metrics,
        *,
        address: str,
        timeout_ms: float,
        cluster: bool,
        offload_ids: int = 1 << 14,
    ) -> None:
        self.client = client
        self.keys = keys
        self.oov_rows = np.ascontiguousarray(oov_rows, dtype=np.float32)  # (F, K+1): each field's OOV row
        self.width = self.oov_rows.shape[1]
        self.cache = cache
        self.metrics = metrics
        self.address = address
        self.timeout_ms = timeout_ms
        self.cluster = cluster
        self.offload_ids = offload_ids  # batches this large sort and assemble in a thread (numpy drops the GIL)
        self._failing = False  # log transitions, not every failed request
        self._oov_ids = frozenset(int(hashed_oov(field)) for field in range(len(self.oov_rows)))
        self._publish_cache_size()

    async def gather(self, ids: np.ndarray) -> np.ndarray:
        """Rows (*ids.shape, K+1) for hashed ids of any shape (each id names its field).

        Ids of features Redis holds no row for become their field's OOV id in ``ids`` (in place),
        so ``encoder.oov_fields`` reports them as the vocabulary encoder would have.
        """
        if ids.size < _SMALL and (cached := self.cache.rows_if_all_cached(ids, self._oov_ids)) is not None:
            self.metrics.cache_hits.inc(len(set(ids.reshape(-1).tolist()) - self._oov_ids))  # as counted below
            rows, absent = cached
            if absent.any():  # unseen values: their field's OOV row and id, as _assemble does
                rows[absent] = self.oov_rows[hashed_field(ids[absent])]
                ids[absent] &= ~HASH_MASK
            return rows
        offload = ids.size >= self.offload_ids
        if offload:
            features, inverse = await asyncio.to_thread(_distinct, ids)
        else:
            features, inverse = _distinct(ids)
        # The cache is only touched here, on the event loop: no locks, and no await between a
        # lookup and the copy of the rows it found.
        slots = self.cache.lookup(features)
        hit = slots >= 0
        rows = np.empty((len(features), self.width), dtype=np.float32)
        absent = (features & HASH_MASK) == 0  # a field's OOV id: its row is known without a lookup
        rows[hit] = self.cache.rows(slots[hit])
        absent[hit] = self.cache.absent(slots[hit])
        todo = ~hit & ~absent
        n_todo = int(todo.sum())
        self.metrics.cache_hits.inc(int(hit.sum()))
        if n_todo:
            self.metrics.cache_misses.inc(n_todo)
            wanted = features[todo]
            fetched, missing = await self._fetch(wanted)
            rows[todo] = fetched
            absent[todo] = missing
            self.cache.put(wanted, fetched, missing)
            self._publish_cache_size()
        if offload:
            return await asyncio.to_thread(self._assemble, ids, features, rows, absent, inverse)
        return self._assemble(ids, features, rows, absent, inverse)

    def _assemble(
        self, ids: np.ndarray, features: np.ndarray, rows: np.ndarray, absent: np.ndarray, inverse: np.ndarray
    ) -> np.ndarray:
        """Rows per id from rows per distinct feature; absent features get their field's OOV row and id."""
        if absent.any():
            fields = hashed_field(features[absent])
            rows[absent] = self.oov_rows[fields]
            ids[...] = np.where(absent, features & ~HASH_MASK, features)[inverse]
        return rows.take(inverse, axis=0)  # (*ids.shape, K+1)

    async def _fetch(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows (n, K+1) of distinct features from Redis, and which of them Redis does not hold."""
        started = time.perf_counter()
        try:
            with redis_errors(self.address, "looking up features", self.metrics, self.timeout_ms):
                values, shards_present = await within_deadline(self._mget(features), self.timeout_ms / 1000)
            if not shards_present:
                self.metrics.redis_errors.labels("version_missing").inc()
                raise StoreUnavailable(
                    f"version {self.keys.version} is no longer complete in Redis at {self.address} "
                    "(restarted without persistence, evicted or deleted?)",
                    "version_missing",
                )
        except StoreUnavailable as exc:
            if not self._failing:
                log.warning("embedding lookups failing: %s (%s)", exc.detail, type(exc.__cause__).__name__)
                self._failing = True
            raise
        self.metrics.redis_seconds.observe(time.perf_counter() - started)
        if self._failing:
            log.info("embedding lookups from Redis at %s work again", self.address)
            self._failing = False
        missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        rows = np.zeros((len(features), self.width), dtype=np.float32)
        present = [v for v in values if v is not None]
        if present:
            row_bytes = self.width * 4
            if any(len(v) != row_bytes for v in present):
                log.error("version %s holds rows that are not %d bytes long", self.keys.version, row_bytes)
                raise StoreUnavailable(f"version {self.keys.version} in Redis holds malformed rows", "corrupt")
            rows[~missing] = unpack_rows(b"".join(present), self.width)
        self.metrics.store_absent.inc(int(missing.sum()))
        return rows, missing

    async def _mget(self, features: np.ndarray) -> tuple[list[bytes | None], bool]:
        """Rows of distinct features in one round trip, and whether every shard touched still exists.

        Each shard's row count key rides along with its rows. A single server takes one MGET; a
        cluster refuses cross-slot MGETs, so it gets one pipelined MGET per shard (one hash slot each).
        """
        keys = self.keys.features(features)
        shards = self.keys.shard_of(features)
        if not self.cluster:
            touched = np.unique(shards).tolist()
            values = await self.client.mget([*keys, *(self.keys.counts[s] for s in touched)])
            return values[: len(keys)], all(v is not None for v in values[len(keys) :])
        order = np.argsort(shards, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(shards[order])) + 1)
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            # execute_command: redis-py blocks pipe.mget() on clusters, single-slot MGETs are fine
            pipe.execute_command("MGET", *(keys[i] for i in group.tolist()), self.keys.counts[int(shards[group[0]])])
        replies = await pipe.execute()
        values: list[bytes | None] = [None] * len(keys)
        for group, reply in zip(groups, replies, strict=True):
            for i, value in zip(group.tolist(), reply, strict=False):  # the reply's last item is the count
                values[i] = value
        return values, all(reply[-1] is not None for reply in replies)

    def _publish_cache_size(self) -> None:
        self.metrics.cache_entries.set(self.cache.entries)
        self.metrics.cache_bytes.set(self.cache.nbytes)

    async def close(self) -> None:
        """Drop the cached rows; the client belongs to whoever built the store and outlives versions."""
        self.cache.clear()
