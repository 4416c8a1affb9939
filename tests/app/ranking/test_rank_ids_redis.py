"""The candidate catalog served from Redis: published with its version, updated by `ctr catalog publish`."""

import asyncio

import numpy as np
import pytest

from app.settings import Settings
from app.stores.catalog import activate_catalog, write_catalog
from app.stores.publish import delete_version
from app.stores.redis_client import connect
from app.stores.redis_keys import ModelKeys
from cli import main
from contract.artifact import load_artifact
from contract.catalog_files import read_blobs, to_hashed
from tests.app.conftest import post_rank
from tests.app.redis_helpers import SHARED_URL, metric, model_keys_in, publish_to, sync_client, wait_for
from tests.conftest import catalog_of, copy_version

pytestmark = pytest.mark.redis

CONTEXT = {"user": 7, "device": "web"}


@pytest.fixture
def version(tiny_catalog_artifact, tmp_path):
    return copy_version(tiny_catalog_artifact, tmp_path)


def run(coro_factory):
    async def go():
        client = connect(Settings(redis_url=SHARED_URL))
        try:
            return await coro_factory(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_a_published_version_serves_its_catalog_like_the_in_process_server(version, redis_model, make_redis_client):
    publish_to(SHARED_URL, version, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    local = make_redis_client(SHARED_URL, redis_model, store="memory", model_dir=version)
    catalog = catalog_of(version)
    body = {"context": CONTEXT, "candidate_ids": [catalog.key(r) for r in range(len(catalog))] + ["31337"],
            "top_k": 5, "explain": True}  # fmt: skip
    from_redis, in_process = post_rank(served, body).json(), post_rank(local, body).json()
    assert from_redis["probabilities"] == in_process["probabilities"]  # the same float64 terms
    assert from_redis["unknown_indices"] == in_process["unknown_indices"] == [len(catalog)]
    assert from_redis["top_indices"] == in_process["top_indices"]
    names = [name for e in from_redis["explanations"] for p in e["top_pairs"] for name in p["features"]]
    assert not any("=#" in name for name in names)  # hashed ids named from the catalog's raw fields
    assert metric(served, "ctr_catalog_items") == len(catalog)


def test_ctr_catalog_publish_swaps_the_replicas_catalog(version, redis_model, make_redis_client, tmp_path, capsys):
    publish_to(SHARED_URL, version, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    body = {"context": CONTEXT, "candidate_ids": [4242]}
    assert post_rank(served, body).json()["unknown_indices"] == [0]
    items = tmp_path / "items.jsonl"
    items.write_text('{"item": 4242, "tags": ["news"], "price": 12.5}\n')
    assert main(["catalog", "build", str(version), "--items", str(items)]) == 0
    assert main(["catalog", "publish", str(version), "--model", redis_model, "--redis-url", SHARED_URL]) == 0
    assert "is current in Redis" in capsys.readouterr().out
    wait_for(lambda: post_rank(served, body).json()["unknown_indices"] == [])
    expected = post_rank(served, {"context": CONTEXT, "candidates": [{"item": 4242, "tags": ["news"], "price": 12.5}]})
    assert post_rank(served, body).json()["probabilities"] == expected.json()["probabilities"]


def test_a_corrupt_catalog_update_is_refused_and_the_current_one_kept(version, redis_model, make_redis_client):
    publish_to(SHARED_URL, version, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    catalog = catalog_of(version)
    body = {"context": CONTEXT, "candidate_ids": [catalog.key(0)]}
    before = post_rank(served, body).json()["probabilities"]
    artifact = load_artifact(version)
    manifest, blobs = to_hashed(*read_blobs(version, catalog.generation), artifact.encoder)
    manifest = {**manifest, "generation": "20991231T000000Z-bad000"}
    blobs = {**blobs, "own.npy": blobs["own.npy"][:-8] + b"\0" * 8}  # one item's terms changed: sha256 mismatch
    model_keys = ModelKeys(redis_model)
    keys = model_keys.version(artifact.version, 1)

    async def update(client):
        await write_catalog(client, keys, manifest, blobs)
        await activate_catalog(client, model_keys, keys, manifest["generation"])

    run(update)
    wait_for(lambda: metric(served, "ctr_catalog_loads_total", 'result="refused"') == 1)
    assert post_rank(served, body).json()["probabilities"] == before


def test_deleting_a_version_deletes_its_catalog(version, redis_model):
    publish_to(SHARED_URL, version, redis_model)
    client = sync_client(SHARED_URL)
    try:
        assert any(b":catalog" in key for key in model_keys_in(client, redis_model))
        version_name = load_artifact(version).version
        run(lambda c: delete_version(c, ModelKeys(redis_model), version_name))
        assert not [key for key in model_keys_in(client, redis_model) if version_name.encode() in key]
    finally:
        client.close()


def test_catalog_publish_needs_the_version_in_redis(version, redis_model, capsys):
    assert main(["catalog", "publish", str(version), "--model", redis_model, "--redis-url", SHARED_URL]) == 2
    assert "is not published in Redis" in capsys.readouterr().err


def test_catalog_parts_reassemble_across_part_boundaries(version, redis_model, make_redis_client, monkeypatch):
    import app.stores.catalog as store_catalog

    monkeypatch.setattr(store_catalog, "PART_BYTES", 100)  # every file in many parts
    publish_to(SHARED_URL, version, redis_model)
    served = make_redis_client(SHARED_URL, redis_model)
    catalog = catalog_of(version)
    answer = post_rank(served, {"context": CONTEXT, "candidate_ids": [catalog.key(0), catalog.key(1)]}).json()
    assert answer["unknown_indices"] == [] and np.isfinite(answer["probabilities"]).all()
