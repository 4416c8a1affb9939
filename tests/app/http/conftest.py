"""A served model with every field kind the contract supports, for the fuzz tests (test_fuzz_*.py).

Its schema splits the kinds over both sides of a ranking request and keys a candidate catalog, so one
artifact takes arbitrary values through /v1/score (records and columns), /v1/rank (context, candidate
objects and candidate ids) and /v1/feedback (the impression log is on, in the test's directory).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

EVERY_KIND_SCHEMA = {
    "name": "every_kind",
    "label": {"column": "clicked"},
    "fields": [
        {"name": "user", "side": "context", "required": True, "dtype": "int"},
        {"name": "device", "side": "context", "transform": "lower"},
        {"name": "zip2", "source": "zip", "side": "context", "transform": "prefix:2"},
        {"name": "history", "kind": "multi_categorical", "side": "context", "max_length": 3},
        {"name": "terms", "kind": "multi_categorical", "side": "context", "weighting": "given", "max_length": 2},
        {"name": "hour", "kind": "numeric", "side": "context", "boundaries": [6, 12, 18]},
        {"name": "item", "side": "candidate", "required": True, "dtype": "int"},
        {"name": "brand", "side": "candidate"},
        {"name": "genres", "kind": "multi_categorical", "side": "candidate", "separator": "|", "weighting": "mean",
         "max_length": 3},
        {"name": "attrs", "kind": "multi_categorical", "side": "candidate", "separator": ",", "weighting": "given",
         "max_length": 2},
        {"name": "shop3", "source": "shop", "side": "candidate", "dtype": "int", "transform": "prefix:3"},
        {"name": "price", "kind": "numeric", "side": "candidate", "buckets": 3},
        {"name": "clicks", "kind": "numeric", "side": "candidate", "log": True},
    ],
}  # fmt: skip
VOCABULARIES = {
    "user": [str(u) for u in range(1, 11)],
    "device": ["ios", "web"],
    "zip2": ["75", "10"],
    "history": ["drama", "news"],
    "terms": ["gpu", "cpu"],
    "item": [str(i) for i in range(1, 21)],
    "brand": ["acme", "globex"],
    "genres": ["drama", "comedy", "kids"],
    "attrs": ["red", "big"],
    "shop3": ["123", "456"],
}
BOUNDARIES = {"hour": [6.0, 12.0, 18.0], "price": [10.0, 50.0], "clicks": [0.0, 1.0, 3.0, 7.0]}
GOOD = {"user": 3, "item": 5}  # the required fields: a record the model scores


@pytest.fixture(scope="session")
def every_kind_artifact(tmp_path_factory):
    """A version directory for EVERY_KIND_SCHEMA (random weights) with a catalog of 20 items."""
    pytest.importorskip("torch")
    import numpy as np

    from contract.artifact import write_artifact
    from contract.encoding import FeatureEncoder
    from contract.schema import parse_schema
    from training.catalog import write_version_catalog
    from training.export import export_onnx

    encoder = FeatureEncoder.build(parse_schema(EVERY_KIND_SCHEMA).fields, VOCABULARIES, BOUNDARIES)
    rng, dim = np.random.default_rng(7), 4
    version = write_artifact(
        tmp_path_factory.mktemp("models"), "every_kind", encoder=encoder,
        linear=rng.normal(0, 0.3, encoder.num_features).astype(np.float32),
        embedding=rng.normal(0, 0.3, (encoder.num_features, dim)).astype(np.float32),
        bias=-0.2, onnx_model=export_onnx(-0.2, encoder.num_slots, dim), manifest_extra={"metrics": {}},
    )  # fmt: skip
    items = [{"item": i, "brand": ["acme", "globex"][i % 2], "genres": "drama|kids", "attrs": {"red": 0.5},
              "shop": f"{123 + i}", "price": float(i * 7), "clicks": i} for i in range(1, 21)]  # fmt: skip
    write_version_catalog(version, items, "item", source={"test": "every_kind"})
    return version


@pytest.fixture(scope="module")
def fuzz_clients(every_kind_artifact, tmp_path_factory):
    """``{hot_path: TestClient}``: the server as deployed (pure-ASGI front) and through FastAPI's routes."""
    clients = {}
    for hot_path in (True, False):
        settings = Settings(model_dir=every_kind_artifact, impression_log="file", hot_path=hot_path,
                            impression_dir=tmp_path_factory.mktemp("impressions"), log_level="critical")  # fmt: skip
        clients[hot_path] = TestClient(create_app(settings), raise_server_exceptions=False)
        clients[hot_path].__enter__()
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def known_keys(fuzz_clients) -> dict[str, set[str]]:
    """Per POST path, every key its OpenAPI request body declares (a 422 may name one that was not sent)."""
    from load_tests.fuzz_inputs import schema_names

    paths = fuzz_clients[True].get("/openapi.json").json()["paths"]
    return {path: schema_names(ops["post"]["requestBody"]) for path, ops in paths.items() if "post" in ops}


@pytest.fixture(scope="module")
def fuzz_client(fuzz_clients):
    """The server as deployed: ``create_app`` with the pure-ASGI front on."""
    return fuzz_clients[True]
