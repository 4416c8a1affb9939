"""Failure behaviour against real, throw-away Redis servers: down, lost, hung, back, and bad versions."""

import logging
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.app.conftest import post
from tests.app.redis_helpers import (
    SHARED_URL,
    another_version,
    metric,
    probabilities,
    publish_to,
    sync_client,
    wait_for,
)

pytestmark = pytest.mark.redis

UNSEEN = [{"user": 999999, "item": 123456, "device": "toaster", "tags": ["nope"]}]


def ready_version(client) -> str | None:
    response = client.get("/readyz")
    return response.json()["model_version"] if response.status_code == 200 else None


def in_process_scores(artifact, records) -> np.ndarray:
    with TestClient(create_app(Settings(model_dir=artifact))) as client:
        return probabilities(post(client, {"records": records}))


def test_redis_down_at_start_up_then_back(make_redis, make_redis_client, artifact_path, sample_records):
    server = make_redis(start=False)
    served = make_redis_client(server.url, "m")
    response = served.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert "Redis is unreachable" in body["detail"] and str(server.port) not in body["detail"]
    assert post(served, {"records": sample_records}).status_code == 503
    server.start()
    publish_to(server.url, artifact_path, "m")
    assert wait_for(lambda: ready_version(served)) == artifact_path.name  # no restart
    np.testing.assert_array_equal(probabilities(post(served, {"records": sample_records})),
                                  in_process_scores(artifact_path, sample_records))  # fmt: skip


def test_a_fallback_artifact_serves_until_redis_can_be_read(make_redis, make_redis_client, artifact_path,
                                                            sample_records):  # fmt: skip
    server = make_redis(start=False)
    served = make_redis_client(server.url, "m", redis_fallback_dir=artifact_path)
    assert ready_version(served) == artifact_path.name
    expected = in_process_scores(artifact_path, sample_records)
    np.testing.assert_array_equal(probabilities(post(served, {"records": sample_records})), expected)
    assert served.app.state.ctr.model.artifact is not None  # in-process
    server.start()
    publish_to(server.url, artifact_path, "m")
    wait_for(lambda: metric(served, "ctr_model_activations_total") == 2)  # the fallback, then Redis' version
    assert served.app.state.ctr.model.artifact is None  # now from Redis
    np.testing.assert_array_equal(probabilities(post(served, {"records": sample_records})), expected)


def test_redis_lost_mid_traffic(make_redis, make_redis_client, artifact_path, sample_records):
    server = make_redis()
    publish_to(server.url, artifact_path, "m")
    served = make_redis_client(server.url, "m", redis_timeout_ms=100.0)
    warm, cold = sample_records[:5], UNSEEN + sample_records[5:]
    expected = in_process_scores(artifact_path, warm + cold)
    first = probabilities(post(served, {"records": warm}))
    server.stop()
    # requests served entirely from the cache still get answers
    np.testing.assert_array_equal(probabilities(post(served, {"records": warm})), first)
    # the others get a clear 503, fast
    started = time.perf_counter()
    response = post(served, {"records": cold})
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert response.json()["detail"] == "Redis is unreachable while looking up features"
    assert metric(served, "ctr_redis_errors_total", 'kind="connection"') >= 1
    # Redis comes back empty (no persistence): its data is gone, which is an error, not a flood of OOV rows
    server.start()
    response = post(served, {"records": cold})
    assert response.status_code == 503 and "no longer complete" in response.json()["detail"]
    publish_to(server.url, artifact_path, "m")  # republished: served again, no restart, nothing stale cached
    np.testing.assert_array_equal(probabilities(post(served, {"records": warm + cold})), expected)


def test_a_hung_redis_costs_a_request_the_timeout_not_a_hang(make_redis, make_redis_client, artifact_path,
                                                              sample_records):  # fmt: skip
    server = make_redis()
    publish_to(server.url, artifact_path, "m")
    served = make_redis_client(server.url, "m", redis_timeout_ms=50.0)
    assert post(served, {"records": sample_records[:3]}).status_code == 200
    server.pause()
    try:
        started = time.perf_counter()
        response = post(served, {"records": UNSEEN})
        elapsed = time.perf_counter() - started
    finally:
        server.resume()
    assert response.status_code == 503, response.text
    assert "did not answer within 50 ms" in response.json()["detail"]
    assert elapsed < 0.5  # 50 ms deadline + test-client overhead on a busy machine
    assert metric(served, "ctr_redis_errors_total", 'kind="timeout"') >= 1
    assert post(served, {"records": UNSEEN}).status_code == 200  # recovered


def test_an_unusable_active_version_is_refused_and_the_current_one_kept(
    make_redis_client, redis_model, artifact_path, sample_records, tmp_path, caplog
):
    caplog.set_level(logging.ERROR, logger="app")
    redis = sync_client(SHARED_URL)
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    before = probabilities(post(served, {"records": sample_records}))
    active = f"ctr:{redis_model}:active"
    incomplete, corrupt = (another_version(artifact_path, tmp_path, s) for s in (0.5, 0.25))
    for version in (incomplete, corrupt):
        publish_to(SHARED_URL, version, redis_model, activate=False)
    redis.delete(f"ctr:{{{redis_model}:{incomplete.name}:3}}:n")  # one shard of it is gone
    redis.set(f"ctr:{{{redis_model}:{corrupt.name}}}:onnx", b"not an onnx graph")
    for version, reason in (("v-never-published", "missing"), (incomplete.name, "incomplete"),
                            (corrupt.name, "corrupt")):  # fmt: skip
        redis.set(active, version)
        wait_for(lambda r=reason: metric(served, "ctr_model_activation_refusals_total", f'reason="{r}"') == 1)
        assert ready_version(served) == artifact_path.name
        np.testing.assert_array_equal(probabilities(post(served, {"records": sample_records})), before)
        assert f"version {version} refused ({reason})" in caplog.text
        assert f"keeping version {artifact_path.name}" in caplog.text
    redis.close()


def test_activation_reaches_every_replica_by_pub_sub(make_redis_client, redis_model, artifact_path, sample_records,
                                                     tmp_path):  # fmt: skip
    redis = sync_client(SHARED_URL)
    publish_to(SHARED_URL, artifact_path, redis_model)
    channel = f"ctr:{redis_model}:activations"
    replicas = [make_redis_client(SHARED_URL, redis_model, redis_poll_seconds=60.0) for _ in range(2)]
    wait_for(lambda: redis.pubsub_numsub(channel)[0][1] == 2)  # both listening; polling is a minute away
    first = in_process_scores(artifact_path, sample_records)
    for replica in replicas:  # fills their caches with the first version's rows
        np.testing.assert_array_equal(probabilities(post(replica, {"records": sample_records})), first)
    second = another_version(artifact_path, tmp_path, 0.5)
    publish_to(SHARED_URL, second, redis_model)
    expected = in_process_scores(second, sample_records)
    for replica in replicas:
        assert wait_for(lambda r=replica: ready_version(r) == second.name, timeout=5)
        # the new version's rows only: nothing cached for the old one leaks into a score
        np.testing.assert_array_equal(probabilities(post(replica, {"records": sample_records})), expected)
    redis.close()


def test_activation_without_a_message_is_found_by_polling(make_redis_client, redis_model, artifact_path, tmp_path):
    redis = sync_client(SHARED_URL)
    publish_to(SHARED_URL, artifact_path, redis_model)
    served = make_redis_client(SHARED_URL, redis_model, redis_poll_seconds=0.2)
    second = another_version(artifact_path, tmp_path, 0.5)
    publish_to(SHARED_URL, second, redis_model, activate=False)
    redis.set(f"ctr:{redis_model}:active", second.name)  # a bare SET: no PUBLISH
    assert wait_for(lambda: ready_version(served) == second.name, timeout=5)
    redis.close()
