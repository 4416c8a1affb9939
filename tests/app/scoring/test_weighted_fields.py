"""A schema with weighted values (weighting = "given", e.g. read from libFM) is scored over HTTP
exactly as it was trained: same ids, same values (the weights), same probabilities."""

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from contract.schema import load_schema
from tests.app.conftest import post
from tests.training.data.conftest import DATASETS

torch = pytest.importorskip("torch")

from tests.test_train_serve_skew import check_no_skew  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.export import export_artifact  # noqa: E402
from training.pipeline import prepare, raw_records  # noqa: E402
from training.train import train  # noqa: E402


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    prepared = prepare(load_schema(DATASETS / "weighted_libfm.toml"), DATASETS / "weighted.libfm")
    config = TrainConfig(dim=4, epochs=3, batch_size=32, lr=0.02, seed=1)
    result = train(config, prepared.train, prepared.validation, prepared.encoder.num_features, progress=False)
    out = tmp_path_factory.mktemp("models")
    artifact = export_artifact(result.model, prepared.encoder, out, "weighted", prepared.test, {"metrics": {}})
    return prepared, result.model, artifact


def test_weighted_records_have_no_train_serve_skew(weighted):
    prepared, model, artifact = weighted
    records = raw_records(prepared, prepared.split.test[:3])
    assert isinstance(records[0]["terms"], dict)  # clients send {term: weight}
    check_no_skew(prepared, model, artifact, prepared.split.test)


def test_weights_change_the_score_and_bad_weights_are_422(weighted):
    _, _, artifact = weighted
    with TestClient(create_app(Settings(model_dir=artifact))) as client:
        body = post(client, {"records": [{"user": 3, "terms": {"gpu": 0.5}}, {"user": 3, "terms": {"gpu": 2.0}},
                                         {"user": 3, "terms": [["gpu", 2.0]]}]}).json()  # fmt: skip
        low, high, same = body["probabilities"]
        assert low != high and high == same
        columns = post(client, {"columns": {"user": [3], "terms": ["gpu:2"]}}).json()["probabilities"]
        assert columns == [high]
        response = post(client, {"records": [{"user": 3, "terms": {"gpu": "heavy"}}]})
        assert response.status_code == 422
        assert response.json()["field"] == "terms"
        assert "expected a numeric weight, got 'heavy'" in response.json()["detail"]
