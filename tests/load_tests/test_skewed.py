"""The Zipf request sampler: seeded, skewed by user, and drawing only records of its pool."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from load_tests.skewed import as_columns, bodies, user_weights, zipf_sample


@pytest.fixture
def pool():
    # 50 users; user u has u + 1 records, so the most frequent user is 49
    return [{"user_id": u, "item_id": 1000 * u + k, "genres": ["Drama"]} for u in range(50) for k in range(u + 1)]


def test_same_seed_same_records_other_seed_others(pool):
    assert zipf_sample(pool, 500, seed=3) == zipf_sample(pool, 500, seed=3)
    assert zipf_sample(pool, 500, seed=3) != zipf_sample(pool, 500, seed=4)


def test_only_records_of_the_pool(pool):
    sample = zipf_sample(pool, 2000, seed=0)
    ids = {id(r) for r in pool}
    assert all(id(r) in ids for r in sample)


def test_users_ranked_by_frequency_with_zipf_weights(pool):
    users, weights = user_weights(pool, "user_id", 1.1)
    assert users[:3] == [49, 48, 47]
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(2**1.1)


def test_sample_is_skewed_towards_frequent_users(pool):
    sample = zipf_sample(pool, 20_000, seed=1)
    counts = Counter(r["user_id"] for r in sample)
    top_share = counts[49] / len(sample)
    _, weights = user_weights(pool, "user_id", 1.1)
    assert top_share == pytest.approx(weights[0], abs=0.02)  # ~0.22, against 1/50 = 0.02 if uniform
    assert counts[49] > counts[48] > counts[40] > counts[0]


def test_bodies_in_both_forms_carry_the_same_rows(pool):
    records = pool[:32]
    as_records = [orjson.loads(b)["records"] for b in bodies(records, 16, "records")]
    as_cols = [orjson.loads(b)["columns"] for b in bodies(records, 16, "columns")]
    assert len(as_records) == len(as_cols) == 2
    assert as_cols[0] == as_columns(as_records[0])
    assert as_cols[0]["user_id"] == [r["user_id"] for r in records[:16]]
