"""The CLOCK row cache: bounded, exact rows, absent features remembered, hot rows survive a scan."""

import numpy as np
import pytest

from app.stores.row_cache import RowCache


def rows_for(features: np.ndarray, width: int = 3) -> np.ndarray:
    return (features[:, None] * 10 + np.arange(width)).astype(np.float32)


def fill(cache: RowCache, features) -> None:
    features = np.asarray(features, dtype=np.int64)
    cache.put(features, rows_for(features, cache.width), np.zeros(len(features), bool))


def cached(cache: RowCache, features) -> np.ndarray:
    return cache.lookup(np.asarray(features, dtype=np.int64)) >= 0


def test_returns_exactly_the_rows_put_and_flags_absent_features():
    cache = RowCache(10, 3)
    features = np.array([7, 3, 99], dtype=np.int64)
    cache.put(features, rows_for(features), np.array([False, True, False]))
    slots = cache.lookup(np.array([3, 99, 5, 7], dtype=np.int64))
    assert slots[2] == -1
    np.testing.assert_array_equal(cache.rows(slots[[1, 3]]), rows_for(np.array([99, 7])))
    assert cache.absent(slots[[0, 1, 3]]).tolist() == [True, False, False]
    assert cache.entries == 3 and cache.nbytes == 3 * 3 * 4


def test_never_holds_more_than_capacity_and_stays_consistent():
    rng = np.random.default_rng(0)
    cache = RowCache(50, 2)
    for _ in range(200):
        batch = np.unique(rng.integers(1, 400, size=rng.integers(1, 80)))
        slots = cache.lookup(batch)
        miss = batch[slots < 0]
        fill(cache, miss)
        assert cache.entries <= 50
        # every cached feature maps to its own row, and no two features share a slot
        index = cache._index
        assert len(set(index.values())) == len(index)
        for feature, slot in index.items():
            assert cache._features[slot] == feature
            np.testing.assert_array_equal(cache._rows[slot], rows_for(np.array([feature]), 2)[0])


def test_hot_rows_survive_a_scan_of_cold_ones():
    cache = RowCache(100, 2)
    hot = np.arange(1, 21)
    fill(cache, hot)
    cache.lookup(hot)  # referenced once more: the hot set
    fill(cache, np.arange(1000, 1080))  # fills the slab
    for start in range(2000, 2400, 40):  # a scan of one-off features, 4x the capacity
        cache.lookup(hot)
        fill(cache, np.arange(start, start + 40))
    assert cached(cache, hot).all()


def test_more_new_features_than_capacity_keeps_the_first():
    cache = RowCache(4, 2)
    fill(cache, np.arange(1, 11))
    assert cache.entries == 4
    assert cached(cache, [1, 2, 3, 4]).all()


def test_skips_features_cached_meanwhile():
    cache = RowCache(4, 2)
    fill(cache, [5])
    cache.put(np.array([5, 6], dtype=np.int64), np.zeros((2, 2), np.float32), np.zeros(2, bool))
    np.testing.assert_array_equal(cache.rows(cache.lookup(np.array([5])))[0], [50, 51])
    assert cache.entries == 2


def test_disabled_cache_holds_nothing():
    cache = RowCache(0, 2)
    fill(cache, [1, 2])
    assert cache.entries == 0
    assert (cache.lookup(np.array([1, 2])) == -1).all()


@pytest.mark.parametrize(("entries", "mb", "capacity"), [(1000, 1.0, 1000), (10**9, 1.0, 2**20 // 20)])
def test_sized_by_entries_or_bytes(entries, mb, capacity):
    assert RowCache.sized(entries, mb, width=5).capacity == capacity


def test_clear_empties_it():
    cache = RowCache(4, 2)
    fill(cache, [1, 2, 3])
    cache.clear()
    assert cache.entries == 0 and not cached(cache, [1, 2, 3]).any()
    fill(cache, [4])
    assert cached(cache, [4]).all()


def test_rows_if_all_cached_only_when_every_id_is_cached():
    cache = RowCache(10, 3)
    features = np.array([7, 3, 99], dtype=np.int64)
    cache.put(features, rows_for(features), np.array([False, True, False]))
    ids = np.array([[99, 7, 3], [7, 7, 99]], dtype=np.int64)
    found = cache.rows_if_all_cached(ids)
    assert found is not None
    rows, absent = found
    assert rows.shape == (2, 3, 3)
    np.testing.assert_array_equal(rows[~absent], rows_for(ids[~absent]))
    assert absent.tolist() == [[False, False, True], [False, False, False]]
    assert cache.rows_if_all_cached(np.array([[7, 5]])) is None  # 5 is not cached
    found = cache.rows_if_all_cached(np.array([[7, 5]]), known_absent=frozenset({5}))
    assert found is not None and found[1].tolist() == [[False, True]]
    np.testing.assert_array_equal(found[0][0, 0], rows_for(np.array([7]))[0])
    assert RowCache(0, 3).rows_if_all_cached(np.array([[5]]), known_absent=frozenset({5})) is None
