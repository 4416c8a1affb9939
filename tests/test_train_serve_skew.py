"""Train/serve skew: the same raw records must become the same ids, values and scores on both sides.

Training encodes its raw table with the encoder it fitted; the server rebuilds the encoder from the
artifact and encodes JSON records sent over HTTP. Both must agree exactly on ids and values, and the
HTTP probability must equal PyTorch's within 1e-5.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from contract.artifact import load_artifact

torch = pytest.importorskip("torch")

from training.config import TrainConfig  # noqa: E402
from training.export import export_artifact  # noqa: E402
from training.pipeline import PreparedData, prepare, raw_records  # noqa: E402
from training.train import predict, train  # noqa: E402


def check_no_skew(prepared: PreparedData, model, artifact_dir, rows: np.ndarray) -> None:
    records = raw_records(prepared, rows)
    # 1. encoding: the server's encoder, rebuilt from the artifact, on the JSON round-tripped records
    served = load_artifact(artifact_dir).encoder.encode_records(json.loads(json.dumps(records)))
    trained_ids = prepared.encoder.encode_columns({k: v[rows] for k, v in prepared.table.items()}, len(rows))
    np.testing.assert_array_equal(served.ids, trained_ids.ids)
    np.testing.assert_array_equal(served.values, trained_ids.values)
    # 2. scores: HTTP vs PyTorch on the training-side tensors
    from training.tensors import Tensors

    tensors = Tensors(torch.from_numpy(trained_ids.ids), torch.from_numpy(trained_ids.values), torch.zeros(len(rows)))
    expected = predict(model, tensors)
    with TestClient(create_app(Settings(model_dir=artifact_dir))) as client:
        response = client.post("/v1/score", json={"records": records})
        assert response.status_code == 200, response.text
        got = np.array(response.json()["probabilities"])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_tiny_dataset_has_no_skew(tiny_prepared, tiny_trained):
    result, artifact_dir = tiny_trained
    check_no_skew(tiny_prepared, result.model, artifact_dir, tiny_prepared.split.test)


def test_movielens_test_split_has_no_skew(tmp_path):
    from contract.schema import load_schema

    prepared = prepare(load_schema("datasets/ml100k.toml"))
    config = TrainConfig(epochs=2, seed=3)
    result = train(config, prepared.train, prepared.validation, prepared.encoder.num_features, progress=False)
    artifact_dir = export_artifact(result.model, prepared.encoder, tmp_path, "ml100k", prepared.test, {"metrics": {}})
    rows = prepared.split.test[:: len(prepared.split.test) // 500]  # 500 rows spread over the test period
    check_no_skew(prepared, result.model, artifact_dir, rows)
    # unseen users and items really occur in this slice, so the OOV path is exercised too
    oov = load_artifact(artifact_dir).encoder.oov_fields(prepared.encoder.encode_columns(
        {k: v[rows] for k, v in prepared.table.items()}, len(rows)))  # fmt: skip
    assert any("user_id" in fields for fields in oov)
