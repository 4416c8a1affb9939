"""The per-version candidate cache: bounded, exact, and actually skipping the store for known candidates."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.ranking.cache import CandidateCache
from app.settings import Settings
from contract.artifact import load_artifact
from load_tests.workload import Workload
from tests.app.conftest import post_rank
from tests.app.http.test_routes import assert_error

CONTEXT = {"user": 7, "device": "web"}


def fill(cache: CandidateCache, candidates, start: float) -> None:
    n = len(candidates)
    ids = np.arange(n * 2).reshape(n, 2) + int(start)
    cache.insert(candidates, ids, ids.astype(np.float32), np.arange(n) + start, np.ones((n, 3)) * start)


def test_lookup_finds_inserted_candidates_only():
    cache = CandidateCache(capacity=10, slots=2, dim=3)
    fill(cache, [{"item": 1}, {"item": 2, "tags": ["a"]}], 100.0)
    entries = cache.lookup([{"item": 2, "tags": ["a"]}, {"item": 3}, {"item": 1}, {"item": 2, "tags": ["b"]}])
    assert entries.tolist()[1] == -1 and entries.tolist()[3] == -1
    assert cache.own[entries[[0, 2]]].tolist() == [101.0, 100.0]
    assert cache.ids[entries[0]].tolist() == [102, 103]
    assert (cache.hits, cache.misses) == (2, 2)


def test_a_full_cache_starts_again_and_stays_bounded():
    cache = CandidateCache(capacity=3, slots=2, dim=3)
    fill(cache, [{"item": 1}, {"item": 2}], 0.0)
    fill(cache, [{"item": 3}, {"item": 4}], 10.0)
    assert len(cache) == 2 and cache.resets == 1
    assert cache.lookup([{"item": 1}, {"item": 3}, {"item": 4}]).tolist() == [-1, 0, 1]
    fill(cache, [{"item": k} for k in range(10, 20)], 50.0)  # more than the capacity at once
    assert len(cache) == 3
    assert cache.own[cache.lookup([{"item": 12}])].tolist() == [52.0]


def test_stored_keys_are_compact():
    import tracemalloc

    cache = CandidateCache(capacity=2000, slots=2, dim=3)
    candidates = [{"item": i, "genres": ["drama", "comedy"], "year": 1990.5} for i in range(2000)]
    tracemalloc.start()
    try:
        fill(cache, candidates, 0.0)
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert grown / len(candidates) < 400  # bytes per entry for key and dict slot (orjson's buffer is ~4 KB)


def test_duplicates_in_one_insert_share_an_entry():
    cache = CandidateCache(capacity=5, slots=2, dim=3)
    fill(cache, [{"item": 1}, {"item": 1}, {"item": 2}], 0.0)
    assert len(cache) == 2
    assert cache.lookup([{"item": 1}, {"item": 2}]).tolist() == [0, 1]


def test_zero_capacity_disables_the_cache():
    cache = CandidateCache(capacity=0, slots=2, dim=3)
    fill(cache, [{"item": 1}], 0.0)
    assert len(cache) == 0 and cache.lookup([{"item": 1}]).tolist() == [-1]
    own, sums, ids, values = cache.copy(np.array([-1, -1]), with_encoded=True)
    assert own.shape == (2,) and sums.shape == (2, 3) and ids.shape == values.shape == (2, 2)


def test_copies_do_not_change_when_the_cache_refills():
    cache = CandidateCache(capacity=2, slots=2, dim=3)
    fill(cache, [{"item": 1}, {"item": 2}], 0.0)
    own, sums, ids, _ = cache.copy(cache.lookup([{"item": 2}]), with_encoded=True)
    fill(cache, [{"item": 3}, {"item": 4}], 10.0)  # empties and overwrites entries 0 and 1
    assert own.tolist() == [1.0] and sums.tolist() == [[0.0] * 3] and ids.tolist() == [[2, 3]]


class CountingStore:
    """Wraps the real store and records how many ids each gather asked for."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    async def gather(self, ids):
        self.sizes.append(int(ids.size))
        return await self.inner.gather(ids)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def counted(tiny_trained):
    with TestClient(create_app(Settings(model_dir=tiny_trained[1]))) as client:
        model = client.app.state.ctr.model
        store = model.store = CountingStore(model.store)
        yield client, store


def test_known_candidates_are_not_gathered_again(counted, tiny_trained):
    client, store = counted
    encoder = load_artifact(tiny_trained[1]).encoder
    candidates = Workload(encoder, seed=4).candidates(50)
    first = post_rank(client, {"context": CONTEXT, "candidates": candidates}).json()["probabilities"]
    context_slots, candidate_slots = 2, 1 + 1 + 3
    assert store.sizes == [context_slots + 50 * candidate_slots]
    other = {"user": 9}  # another context: its rows are gathered, the candidates' are not
    second = post_rank(client, {"context": other, "candidates": [*candidates, {"item": 1}]}).json()
    assert store.sizes[1] == context_slots + 1 * candidate_slots
    again = post_rank(client, {"context": CONTEXT, "candidates": candidates[::-1]}).json()["probabilities"]
    assert store.sizes[2] == context_slots
    assert again[::-1] == first  # a cached candidate scores exactly as when it was computed
    assert len(second["probabilities"]) == 51
    metrics = client.get("/metrics").text
    assert 'ctr_rank_cache_lookups_total{result="hit"} 100.0' in metrics
    assert 'ctr_rank_cache_lookups_total{result="miss"} 51.0' in metrics


def test_cache_on_and_off_give_the_same_scores(tiny_trained):
    encoder = load_artifact(tiny_trained[1]).encoder
    bodies = [Workload(encoder, seed=s, unseen_share=0.3).rank_body(40) for s in range(4)]
    for body in bodies[1:]:  # overlapping candidate sets: a mix of hits and misses
        body["candidates"][:20] = bodies[0]["candidates"][:20]
    results = {}
    for size in (0, 30, 50_000):  # off, small enough to reset mid-run, large
        with TestClient(create_app(Settings(model_dir=tiny_trained[1], rank_cache_size=size))) as client:
            results[size] = [post_rank(client, b).json()["probabilities"] for b in bodies + bodies]
    np.testing.assert_allclose(results[30], results[0], atol=1e-7, rtol=0)
    np.testing.assert_allclose(results[50_000], results[0], atol=1e-7, rtol=0)


def test_explanations_of_cached_candidates_equal_fresh_ones(counted):
    client, _ = counted
    body = {"context": CONTEXT, "candidates": [{"item": 6, "tags": ["news", "tech"]}, {"item": 17}], "explain": True}
    fresh = post_rank(client, body).json()
    cached = post_rank(client, body).json()
    assert cached["explanations"] == fresh["explanations"]
    assert cached["probabilities"] == fresh["probabilities"]


def test_an_invalid_new_candidate_among_cached_ones_is_named_by_its_position(counted):
    client, _ = counted
    good = [{"item": 6}, {"item": 17, "tags": ["news"]}]
    assert post_rank(client, {"context": CONTEXT, "candidates": good}).status_code == 200
    bad = [*good, {"item": 5, "price": "cheap"}]
    body = assert_error(post_rank(client, {"context": CONTEXT, "candidates": bad}), 422, "invalid_request", "price")
    assert body["detail"].startswith("candidates[2]:")
    body = assert_error(post_rank(client, {"context": CONTEXT, "candidates": [*good, {"item": 5, "user": 3}]}),
                        422, "invalid_request", "user")  # fmt: skip
    assert body["detail"].startswith("candidates[2]:")
