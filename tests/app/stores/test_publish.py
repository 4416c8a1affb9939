"""``ctr publish`` against real Redis: exact keys and bytes, atomic activation, idempotent retry, collection."""

import json

import numpy as np
import pytest

from app.errors import StoreUnavailable
from app.stores.publish import Published, PublishError
from app.stores.redis_keys import ModelKeys, pack_rows
from cli import main
from contract.artifact import load_artifact
from contract.hashing import HASH_MASK, feature_hash
from tests.app.redis_helpers import (
    SHARED_URL,
    another_version,
    delete_model,
    model_keys_in,
    publish_to,
    sync_client,
    unique_model,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def shared():
    client = sync_client(SHARED_URL)
    yield client
    client.close()


def expected_keys(model: str, artifact, shards: int) -> set[bytes]:
    keys = ModelKeys(model).version(artifact.version, shards)
    features = artifact.encoder.feature_hashes()
    rows = {keys.feature(int(h)) for h in features if h & HASH_MASK}
    meta = {keys.manifest, keys.onnx, keys.oov, *keys.counts}
    return rows | meta | {f"ctr:{model}:{k}".encode() for k in ("active", "versions", "history")}


def test_every_row_is_written_under_its_exact_key(shared, redis_model, artifact_path):
    result = publish_to(SHARED_URL, artifact_path, redis_model, shards=8)
    artifact = load_artifact(artifact_path)
    version = artifact.version
    assert (result.version, result.activated, result.skipped) == (version, True, False)
    assert set(model_keys_in(shared, redis_model)) == expected_keys(redis_model, artifact, 8)
    # the key of one raw value, spelled out
    user = next(f for f in artifact.encoder.fields if f.spec.name == "user")
    h = feature_hash("user", user.vocabulary[0])  # user is field 0: its ids are the bare hashes
    key = f"ctr:{{{redis_model}:{version}:{h % 8}}}:e:{h:016x}".encode()
    assert shared.get(key) == pack_rows(artifact.table[user.offset + 1])
    # every row, byte for byte
    hashes = artifact.encoder.feature_hashes()
    keys = ModelKeys(redis_model).version(version, 8)
    known = np.flatnonzero(hashes & HASH_MASK)
    assert shared.mget(keys.features(hashes[known])) == [pack_rows(artifact.table[g]) for g in known]
    assert shared.get(keys.oov) == pack_rows(artifact.table[[f.offset for f in artifact.encoder.fields]])
    assert shared.get(keys.onnx) == artifact.onnx_path.read_bytes()
    assert sum(int(shared.get(k)) for k in keys.counts) == len(known) == result.features
    manifest = json.loads(shared.get(keys.manifest))
    assert (manifest["version"], manifest["shards"], manifest["width"]) == (version, 8, 5)
    assert manifest["artifact"] == artifact.manifest
    assert shared.get(f"ctr:{redis_model}:active") == version.encode()


def test_activation_is_announced_on_the_channel(shared, redis_model, artifact_path):
    pubsub = shared.pubsub()
    pubsub.subscribe(f"ctr:{redis_model}:activations")
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    publish_to(SHARED_URL, artifact_path, redis_model)
    message = pubsub.get_message(timeout=2)
    pubsub.close()
    assert message["data"] == artifact_path.name.encode()


def test_publishing_again_is_idempotent(shared, redis_model, artifact_path):
    publish_to(SHARED_URL, artifact_path, redis_model)
    before = {k: shared.dump(k) for k in model_keys_in(shared, redis_model) if not k.endswith(b":versions")}
    again = publish_to(SHARED_URL, artifact_path, redis_model)
    assert again.skipped and again.activated
    after = {k: shared.dump(k) for k in model_keys_in(shared, redis_model) if not k.endswith(b":versions")}
    assert after == before


def test_a_different_artifact_under_a_published_version_is_refused(redis_model, artifact_path, tmp_path):
    publish_to(SHARED_URL, artifact_path, redis_model)
    impostor = another_version(artifact_path, tmp_path, 2.0, version=artifact_path.name)
    with pytest.raises(PublishError, match="different artifact"):
        publish_to(SHARED_URL, impostor, redis_model)


def test_a_publish_failing_before_its_manifest_leaves_the_active_version(make_redis, artifact_path, tmp_path):
    server = make_redis()
    redis = sync_client(server.url)
    publish_to(server.url, artifact_path, "m")
    # a publisher allowed to write everything of model m but the manifest: it fails at the very last step
    redis.acl_setuser("pub", enabled=True, passwords=["+pubpw"], commands=["+@all"], channels=["*"],
                      keys=["ctr:m:*", "%R~ctr:{m:*}:manifest", "ctr:{m:*}:e:*", "ctr:{m:*}:n", "ctr:{m:*}:onnx",
                            "ctr:{m:*}:oov"])  # fmt: skip
    second = another_version(artifact_path, tmp_path, 0.5)
    with pytest.raises(StoreUnavailable, match="refused our credentials or permissions") as info:
        publish_to(server.url, second, "m", auth={"redis_username": "pub", "redis_password": "pubpw"})
    assert info.value.kind == "auth"
    keys = ModelKeys("m").version(second.name, 32)
    assert redis.get("ctr:m:active") == artifact_path.name.encode()
    assert redis.get(keys.manifest) is None
    assert len(list(redis.scan_iter(match=keys.feature_pattern))) == load_artifact(second).encoder.num_features - 5
    result = publish_to(server.url, second, "m")  # the retry, with enough rights
    assert not result.skipped and result.activated
    assert redis.get("ctr:m:active") == second.name.encode()
    assert json.loads(redis.get(keys.manifest))["version"] == second.name
    redis.close()


def test_running_out_of_memory_mid_publish_leaves_the_active_version(make_redis, artifact_path, tmp_path):
    server = make_redis()
    redis = sync_client(server.url)
    before = redis.info("memory")["used_memory"]
    publish_to(server.url, artifact_path, "m")
    after = redis.info("memory")["used_memory"]
    redis.config_set("maxmemory", after + (after - before) // 3)
    second = another_version(artifact_path, tmp_path, 0.5)
    with pytest.raises(StoreUnavailable, match="out of memory") as info:
        publish_to(server.url, second, "m", chunk=10)
    assert info.value.kind == "response"
    assert redis.get("ctr:m:active") == artifact_path.name.encode()
    assert redis.get(ModelKeys("m").version(second.name, 32).manifest) is None
    redis.config_set("maxmemory", 0)
    assert publish_to(server.url, second, "m").activated
    assert redis.get("ctr:m:active") == second.name.encode()
    redis.close()


def test_old_versions_are_collected_but_never_the_active_one(shared, redis_model, artifact_path, tmp_path):
    v1 = artifact_path
    v2, v3, v4, v5 = (another_version(artifact_path, tmp_path, s) for s in (0.9, 0.8, 0.7, 0.6))
    publish_to(SHARED_URL, v1, redis_model, keep=2)
    for v in (v2, v3):
        assert publish_to(SHARED_URL, v, redis_model, keep=2, activate=False).collected == []
    assert publish_to(SHARED_URL, v4, redis_model, keep=2, activate=False).collected == [v2.name]  # v1 is active
    assert publish_to(SHARED_URL, v5, redis_model, keep=2).collected == [v1.name, v3.name]
    remaining = b" ".join(model_keys_in(shared, redis_model))
    for gone in (v1, v2, v3):
        assert gone.name.encode() not in remaining
    assert shared.zrange(f"ctr:{redis_model}:versions", 0, -1) == [v4.name.encode(), v5.name.encode()]
    assert shared.get(f"ctr:{redis_model}:active") == v5.name.encode()
    with pytest.raises(PublishError, match="keep must be"):
        publish_to(SHARED_URL, v5, redis_model, keep=1)


def test_colliding_feature_hashes_are_refused(artifact_path, monkeypatch):
    artifact = load_artifact(artifact_path)
    hashes = artifact.encoder.feature_hashes()
    hashes[5] = hashes[9]
    monkeypatch.setattr(artifact.encoder, "feature_hashes", lambda: hashes)
    with pytest.raises(PublishError, match="hash to the same id"):
        Published.of(artifact)


def test_publish_command(redis_model, artifact_path, capsys, monkeypatch):
    monkeypatch.setenv("CTR_REDIS_URL", SHARED_URL)
    assert main(["publish", str(artifact_path.parent), "--model", redis_model, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"published {redis_model} version {artifact_path.name}" in out
    assert f"active version of {redis_model}: {artifact_path.name}" in out


def test_publish_command_errors(artifact_path, capsys, make_redis):
    closed = make_redis(start=False)  # a free port nobody listens on
    assert main(["publish", str(artifact_path), "--redis-url", closed.url, "--quiet"]) == 2
    assert "is unreachable while publishing" in capsys.readouterr().err
    assert main(["publish", str(artifact_path), "--redis-url", "redis://:pw@127.0.0.1:6379/0"]) == 2
    assert "must not carry credentials" in capsys.readouterr().err


def test_cluster_spreads_a_version_over_every_node_and_collects_it(redis_cluster, artifact_path, tmp_path):
    model = unique_model()
    try:
        versions = [artifact_path, *(another_version(artifact_path, tmp_path, s) for s in (0.5, 0.25))]
        for v in versions:
            publish_to(redis_cluster.url, v, model, cluster=True, shards=16, keep=2)
        for node in redis_cluster.nodes:
            node_client = sync_client(node.url)
            keys = list(node_client.scan_iter(match=f"ctr:{{{model}:*"))
            node_client.close()
            assert keys, "every node holds part of the version"
            assert not [k for k in keys if artifact_path.name.encode() in k], "the oldest version is collected"
    finally:
        delete_model(redis_cluster.url, model, cluster=True)
