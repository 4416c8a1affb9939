"""The floor baseline answers exactly what our server answers to bad bodies, and 200 to good ones;
the naive PyTorch baseline scores like ours."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from load_tests.baselines import floor_app

BAD_BODIES = [
    b"not json",
    b"[]",
    {"records": [{"user": 1, "item": 2}], "extra": 1},
    {"records": []},
    {"records": "nope"},
    {"records": [1]},
    {"records": [{"user": 1, "item": 2, "colour": "red"}]},
    {"records": [{"item": 2}]},
    {"records": [{"user": "abc", "item": 2}]},
    {"records": [{"user": 1, "item": 2, "price": "cheap"}]},
    {"records": [{"user": 1, "item": 2, "price": float("inf")}]},
    {"records": [{"user": 1, "item": 2, "tags": 5}]},
    {"records": [{"user": 1, "item": 2, "tags": ["a", "b", "c", "d"]}]},
    {"records": [{"user": 1, "item": 2, "device": {"os": "ios"}}]},
    {"records": [{"user": 1, "item": 2}], "report_oov": "yes"},
    {"columns": {"user": [1, 2], "item": [3]}},
    {"columns": {"user": [1], "item": [2], "colour": ["red"]}},
    {"columns": {"user": [1]}},
    {"columns": {"user": [1.5], "item": [2]}},
    {"records": [{"user": 1, "item": 2}], "columns": {"user": [1]}},
    {"records": [{"user": i, "item": 2} for i in range(6)]},  # over max_records=5
]


def encode(body) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture(scope="module")
def clients(artifact_path):
    settings = Settings(model_dir=artifact_path.parent, max_records=5)
    with TestClient(create_app(settings)) as ours, TestClient(floor_app.create_app(settings)) as floor:
        yield ours, floor


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_floor_refuses_bad_bodies_like_ours(clients, body):
    ours, floor = clients
    headers = {"content-type": "application/json"}
    a = ours.post("/v1/score", content=encode(body), headers=headers)
    b = floor.post("/v1/score", content=encode(body), headers=headers)
    assert a.status_code in (400, 422)
    assert (b.status_code, b.json()) == (a.status_code, a.json())


def test_floor_answers_good_bodies_with_a_constant(clients, sample_records):
    ours, floor = clients
    for body in ({"records": sample_records[:3]}, {"columns": {"user": [1, 2], "item": [5, 6], "tags": [["x"], None]}}):
        assert ours.post("/v1/score", json=body).status_code == 200
        answer = floor.post("/v1/score", json=body)
        assert answer.status_code == 200
        assert answer.content == floor_app.CONSTANT


def test_naive_torch_scores_like_ours(artifact_path, sample_records, monkeypatch):
    pytest.importorskip("torch")
    from load_tests.baselines import naive_torch

    monkeypatch.setenv("CTR_MODEL_DIR", str(artifact_path))
    records = [*sample_records, {"user": 10**9, "item": 2, "device": "NEW", "price": None, "tags": []}]
    ours_app = create_app(Settings(model_dir=artifact_path))
    with TestClient(naive_torch.create_app()) as naive, TestClient(ours_app) as ours:
        theirs = naive.post("/v1/score", json={"records": records}).json()["probabilities"]
        mine = ours.post("/v1/score", json={"records": records}).json()["probabilities"]
    assert theirs == pytest.approx(mine, abs=1e-5)
