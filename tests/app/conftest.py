from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def artifact_path(tiny_trained):
    return tiny_trained[1]


@pytest.fixture(scope="module")
def sample_records(tiny_prepared):
    from training.pipeline import raw_records

    return raw_records(tiny_prepared, tiny_prepared.split.test[:20])


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


def post(client: TestClient, body, headers=None):
    """POST a body (dict/list as JSON; bytes or a generator of chunks as they are) to /v1/score."""
    data = body if isinstance(body, bytes | str) or hasattr(body, "__next__") else json.dumps(body)
    return client.post("/v1/score", content=data, headers={"content-type": "application/json", **(headers or {})})


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
