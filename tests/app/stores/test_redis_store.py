"""Serving from Redis gives exactly the in-process scores, through the cache, on one server or a cluster."""

import numpy as np
import pytest

from tests.app.conftest import post
from tests.app.redis_helpers import (
    SHARED_URL,
    another_version,
    delete_model,
    metric,
    probabilities,
    publish_to,
    sync_client,
    unique_model,
    wait_for,
)

pytestmark = pytest.mark.redis

# Unseen values of every field, missing optional fields, a list with known and unknown tags.
UNSEEN = [
    {"user": 999999, "item": 123456, "device": "toaster", "price": 1e9, "tags": ["nope", "travel"]},
    {"user": 1, "item": 2},
    {"user": "7", "item": 26.0, "device": "IOS", "price": "", "tags": "travel|news"},
]


@pytest.fixture
def records(sample_records):
    return sample_records + UNSEEN


def test_scores_equal_the_in_process_store_exactly(client, make_redis_client, redis_model, artifact_path, records):
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    columns = {k: [r.get(k) for r in records] for k in ("user", "item", "device", "price", "tags")}
    # twice: the second pass is served from the warm row cache (its all-cached fast path)
    for body in ({"records": records, "report_oov": True}, {"columns": columns, "report_oov": True}) * 2:
        expected, got = post(client, body).json(), post(served, body).json()
        assert got["model_version"] == expected["model_version"] == artifact_path.name
        assert got["probabilities"] == expected["probabilities"]  # bitwise: same float32 rows, same graph
        assert got.get("oov_fields") == expected.get("oov_fields")
    for _ in range(2):
        assert post(served, {"records": UNSEEN[:1], "report_oov": True}).json()["oov_fields"] == [
            ["user", "device", "item", "tags"]
        ]  # price 1e9 falls in the top bucket: seen; "travel" is known but "nope" is not


def test_second_request_is_served_from_the_cache(make_redis_client, redis_model, artifact_path, records):
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    first = probabilities(post(served, {"records": records}))
    misses = metric(served, "ctr_store_cache_misses_total")
    trips = metric(served, "ctr_redis_roundtrip_duration_seconds_count")
    assert misses > 0 and trips == 1
    assert metric(served, "ctr_store_absent_features_total") >= 5  # the unseen values, looked up once
    again = probabilities(post(served, {"records": records}))
    np.testing.assert_array_equal(again, first)
    assert metric(served, "ctr_store_cache_misses_total") == misses
    assert metric(served, "ctr_redis_roundtrip_duration_seconds_count") == trips  # no Redis call at all
    assert metric(served, "ctr_store_cache_hits_total") >= misses
    assert metric(served, "ctr_store_cache_entries") == misses
    assert metric(served, "ctr_store_cache_bytes") == misses * (4 + 1) * 4  # dim 4 + the linear weight


def test_without_cache_and_off_the_event_loop_scores_stay_exact(client, make_redis_client, redis_model,
                                                                 artifact_path, records):  # fmt: skip
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model, redis_cache_entries=0, offload_rows=2)
    expected = probabilities(post(client, {"records": records}))
    for _ in range(2):
        np.testing.assert_array_equal(probabilities(post(served, {"records": records})), expected)
    assert metric(served, "ctr_store_cache_hits_total") == 0
    assert metric(served, "ctr_redis_roundtrip_duration_seconds_count") == 2


def test_model_endpoint_describes_the_redis_version(client, make_redis_client, redis_model, artifact_path):
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    assert served.get("/v1/model").json() == client.get("/v1/model").json()
    assert served.get("/readyz").json() == {"status": "ready", "model_version": artifact_path.name}


def test_two_replicas_share_one_store(make_redis_client, redis_model, artifact_path, records):
    publish_to(SHARED_URL, artifact_path, redis_model)
    a, b = make_redis_client(SHARED_URL, redis_model), make_redis_client(SHARED_URL, redis_model)
    np.testing.assert_array_equal(probabilities(post(a, {"records": records})),
                                  probabilities(post(b, {"records": records})))  # fmt: skip


def test_cluster_scores_equal_the_in_process_store(client, make_redis_client, redis_cluster, artifact_path, records):
    model = unique_model()
    try:
        publish_to(redis_cluster.url, artifact_path, model, cluster=True, shards=16)
        served = make_redis_client(redis_cluster.url, model, redis_cluster=True)
        expected = probabilities(post(client, {"records": records}))
        np.testing.assert_array_equal(probabilities(post(served, {"records": records})), expected)
        np.testing.assert_array_equal(probabilities(post(served, {"records": records})), expected)
        assert metric(served, "ctr_redis_roundtrip_duration_seconds_count") == 1  # one pipelined round trip
    finally:
        delete_model(redis_cluster.url, model, cluster=True)


def test_cluster_replicas_hear_activations(make_redis_client, redis_cluster, artifact_path, tmp_path, sample_records):
    model = unique_model()
    channel = f"ctr:{model}:activations"

    def subscribers() -> int:  # a cluster node counts only its own subscribers
        clients = [sync_client(node.url) for node in redis_cluster.nodes]
        try:
            return sum(c.pubsub_numsub(channel)[0][1] for c in clients)
        finally:
            for c in clients:
                c.close()

    try:
        publish_to(redis_cluster.url, artifact_path, model, cluster=True)
        served = make_redis_client(redis_cluster.url, model, redis_cluster=True, redis_poll_seconds=60.0)
        assert probabilities(post(served, {"records": sample_records})).size == len(sample_records)
        wait_for(lambda: subscribers() == 1)
        second = another_version(artifact_path, tmp_path, 0.5)
        publish_to(redis_cluster.url, second, model, cluster=True)
        # a minute between polls: only the pub/sub message can bring the new version in time
        wait_for(lambda: served.get("/readyz").json().get("model_version") == second.name, timeout=10)
    finally:
        delete_model(redis_cluster.url, model, cluster=True)
