"""Pure logic of the Redis store, with a fake client (the real-Redis tests are in test_redis_store.py)."""

import asyncio

import numpy as np
import pytest

from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.stores.redis_keys import VersionKeys, pack_rows
from app.stores.redis_store import RedisStore, _distinct
from app.stores.row_cache import RowCache


@pytest.mark.parametrize("shape", [(1, 5), (40, 9)])  # below and above the dict/np.unique switch
def test_distinct_ids_and_their_positions(shape):
    ids = np.random.default_rng(1).integers(0, 12, size=shape)
    features, inverse = _distinct(ids)
    assert len(np.unique(features)) == len(features) == len(np.unique(ids))
    np.testing.assert_array_equal(features[inverse], ids)


class FakeRedis:
    """Answers MGET from a dict, counting calls; what the store needs of a standalone client."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data, self.calls = data, 0

    async def mget(self, keys):
        self.calls += 1
        return [self.data.get(k) for k in keys]


F1 = 1 << 56  # field 1's OOV id; field 0's is 0


def store_with(rows: dict[int, np.ndarray], keys: VersionKeys, present_shards=None) -> tuple[RedisStore, FakeRedis]:
    data = {keys.feature(f): pack_rows(r[None]) for f, r in rows.items()}
    for s in range(keys.shards) if present_shards is None else present_shards:
        data[keys.counts[s]] = b"1"
    client = FakeRedis(data)
    oov = np.array([[-1.0, -1.0], [-2.0, -2.0]], np.float32)  # field 0 / field 1 OOV rows
    store = RedisStore(client, keys, oov, RowCache(16, 2), Metrics(), address="fake:1", timeout_ms=100, cluster=False)
    return store, client


def test_gather_gives_absent_features_their_field_oov_row_and_id():
    keys = VersionKeys("m", "v", 4)
    store, client = store_with({11: np.array([1, 1], np.float32), F1 | 22: np.array([2, 2], np.float32)}, keys)
    ids = np.array([[11, F1 | 22], [99, F1 | 99], [0, F1]])
    rows = asyncio.run(store.gather(ids))
    np.testing.assert_array_equal(rows[:, :, 0], [[1, 2], [-1, -2], [-1, -2]])
    np.testing.assert_array_equal(ids, [[11, F1 | 22], [0, F1], [0, F1]])
    flat = np.array([F1 | 99, 11, 99])  # any shape: the ids name their fields, not their positions
    np.testing.assert_array_equal(asyncio.run(store.gather(flat))[:, 0], [-2, 1, -1])
    assert client.calls == 1  # 99s were remembered as absent


def test_a_vanished_shard_is_an_error_not_oov_rows():
    keys = VersionKeys("m", "v", 4)
    store, _ = store_with({11: np.array([1, 1], np.float32)}, keys, present_shards=[])
    with pytest.raises(StoreUnavailable, match="no longer complete"):
        asyncio.run(store.gather(np.array([[11, F1]])))
    assert store.cache.entries == 0  # nothing learnt from a broken answer
