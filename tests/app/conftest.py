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
