from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture
def make_client(artifact_path):
    clients = []

    def make(**overrides) -> TestClient:
        settings = Settings(model_dir=artifact_path.parent, **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


def post(client: TestClient, body, headers=None, path: str = "/v1/score"):
    """POST a body (dict/list as JSON; bytes or a generator of chunks as they are) to /v1/score."""
    data = body if isinstance(body, bytes | str) or hasattr(body, "__next__") else json.dumps(body)
    return client.post(path, content=data, headers={"content-type": "application/json", **(headers or {})})


# -- Redis -----------------------------------------------------------------------------------------
@pytest.fixture
def redis_model():
    """A model name of its own on the shared 127.0.0.1:6379, with every key removed afterwards."""
    from tests.app.redis_helpers import SHARED_URL, delete_model, unique_model

    name = unique_model()
    yield name
    delete_model(SHARED_URL, name)


@pytest.fixture
def make_redis(tmp_path):
    """Start throw-away redis-server processes on free loopback ports; all stopped at the end."""
    from tests.redis_servers import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed (scripts/test.sh installs it)")
    servers = []

    def make(*args: str, start: bool = True, tls=None) -> RedisServer:
        server = RedisServer(tmp_path, *args, tls=tls)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A real 3-node Redis Cluster on loopback ports (one per test session)."""
    from tests.redis_servers import RedisClusterNodes

    cluster = RedisClusterNodes(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def make_redis_client(artifact_path):
    """TestClients serving from Redis (settings overridable); closed at the end."""
    clients = []

    def make(url: str, model: str, **overrides) -> TestClient:
        values = {"store": "redis", "redis_url": url, "redis_model": model, "redis_poll_seconds": 0.1,
                  "redis_timeout_ms": 200.0, "model_dir": artifact_path.parent, **overrides}  # fmt: skip
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def post_rank(client: TestClient, body, headers=None):
    return post(client, body, headers, path="/v1/rank")


# A schema whose sides interleave (candidate, context, candidate, ...), with multi-valued fields on
# both sides, so slot bookkeeping cannot pass by accident on a schema laid out context-first.
INTERLEAVED_SCHEMA = {
    "name": "interleaved",
    "label": {"column": "clicked"},
    "fields": [
        {"name": "item", "side": "candidate", "required": True, "dtype": "int"},
        {"name": "user", "side": "context", "required": True, "dtype": "int"},
        {"name": "genres", "kind": "multi_categorical", "side": "candidate", "max_length": 4, "weighting": "mean"},
        {"name": "history", "kind": "multi_categorical", "side": "context", "max_length": 3, "separator": ","},
        {"name": "hour", "kind": "numeric", "side": "context", "boundaries": [6, 12, 18]},
        {"name": "brand", "side": "candidate", "transform": "lower"},
    ],
}
INTERLEAVED_VOCAB = {
    "item": [str(i) for i in range(1, 31)],
    "user": [str(u) for u in range(1, 21)],
    "genres": ["drama", "comedy", "action", "horror", "kids"],
    "history": ["drama", "comedy", "action", "horror", "kids", "news"],
    "brand": ["acme", "globex", "initech"],
}


@pytest.fixture(scope="session")
def interleaved_artifact(tmp_path_factory):
    """A version directory for INTERLEAVED_SCHEMA with random weights large enough to make every term matter."""
    pytest.importorskip("torch")
    import numpy as np

    from contract.artifact import write_artifact
    from contract.encoding import FeatureEncoder
    from contract.schema import parse_schema
    from training.export import export_onnx

    schema = parse_schema(INTERLEAVED_SCHEMA)
    encoder = FeatureEncoder.build(schema.fields, INTERLEAVED_VOCAB, {"hour": [6.0, 12.0, 18.0]})
    rng = np.random.default_rng(5)
    dim = 6
    linear = rng.normal(0, 0.3, encoder.num_features).astype(np.float32)
    embedding = rng.normal(0, 0.35, (encoder.num_features, dim)).astype(np.float32)
    bias = -0.4
    return write_artifact(
        tmp_path_factory.mktemp("models"), "interleaved", encoder=encoder, linear=linear, embedding=embedding,
        bias=bias, onnx_model=export_onnx(bias, encoder.num_slots, dim), manifest_extra={"metrics": {}},
    )  # fmt: skip


# -- the candidate catalog (tests/conftest.py has the tiny one) ---------------------------------------
@pytest.fixture(scope="session")
def interleaved_catalog_artifact(interleaved_artifact, tmp_path_factory):
    """The interleaved version with a catalog of 40 items: unseen values, missing fields, string ids."""
    from contract.artifact import load_artifact
    from load_tests.workload import Workload
    from tests.conftest import copy_version
    from training.catalog import write_version_catalog

    version = copy_version(interleaved_artifact, tmp_path_factory.mktemp("catalog"))
    items = Workload(load_artifact(version).encoder, seed=11, unseen_share=0.2).catalogue(40)
    for i, item in enumerate(items):
        if i % 3 == 0:
            item.pop("genres", None)  # a missing optional field: its OOV feature
        if i % 4 == 0:
            item["item"] = str(item["item"])  # ids as strings: the same canonical id
    write_version_catalog(version, items, "item", source={"test": "interleaved"})
    return version
