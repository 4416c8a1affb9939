"""/v1/rank and explanations served from the Redis store (hashed ids) equal the in-process ones."""

import numpy as np
import pytest

from tests.app.conftest import post, post_rank
from tests.app.redis_helpers import SHARED_URL, publish_to

pytestmark = pytest.mark.redis

CONTEXT = {"user": 7, "device": "web"}
CANDIDATES = [
    {"item": 6, "price": 50.0, "tags": ["news", "tech", "food"]},
    {"item": 123456, "tags": ["nope", "travel"]},  # unseen item and one unseen tag
    {"item": 17},
    {"item": "26", "price": 1e9, "tags": "travel|news"},
]


@pytest.fixture
def served(make_redis_client, redis_model, artifact_path):
    publish_to(SHARED_URL, artifact_path, redis_model)
    return make_redis_client(SHARED_URL, redis_model)


def test_rank_from_redis_equals_score_and_the_in_process_store(served, client):
    body = {"context": CONTEXT, "candidates": CANDIDATES, "top_k": 2}
    from_redis = post_rank(served, body).json()
    in_process = post_rank(client, body).json()
    merged = {"records": [{**CONTEXT, **c} for c in CANDIDATES]}
    scored = np.array(post(served, merged).json()["probabilities"])
    assert np.abs(np.array(from_redis["probabilities"]) - scored).max() <= 1e-6
    assert from_redis["probabilities"] == in_process["probabilities"]  # same rows, same float64 arithmetic
    assert from_redis["top_indices"] == in_process["top_indices"]
    again = post_rank(served, body).json()  # candidates now come from the rank cache
    assert again["probabilities"] == from_redis["probabilities"]


def test_explanations_from_redis_name_features_by_their_raw_values(served, client):
    body = {"context": CONTEXT, "candidates": CANDIDATES, "explain": True}
    from_redis = post_rank(served, body).json()["explanations"]
    in_process = post_rank(client, body).json()["explanations"]
    for r, m in zip(from_redis, in_process, strict=True):
        assert abs(r["logit"] - m["logit"]) <= 1e-9
        assert r["linear"] == pytest.approx(m["linear"], abs=1e-9)
        assert [p["features"] for p in r["top_pairs"]] == [p["features"] for p in m["top_pairs"]]
        names = [name for p in r["top_pairs"] for name in p["features"]]
        assert not any("=#" in name for name in names), names
    scored = post(served, {"records": [{**CONTEXT, **CANDIDATES[1]}], "explain": True}).json()["explanations"][0]
    names = {name for p in scored["top_pairs"] for name in p["features"]}
    assert "item=<oov>" in names or not any(n.startswith("item=") for n in names)
    assert not any("=#" in name for name in names)
