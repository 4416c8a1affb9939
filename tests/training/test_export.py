import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from contract.artifact import load_artifact
from training.export import ExportError, export_artifact, export_onnx, parity
from training.model import FactorizationMachine
from training.tensors import Tensors
from training.train import predict


def test_exported_scorer_matches_pytorch_on_the_test_split(tiny_trained, tiny_prepared):
    result, path = tiny_trained
    artifact = load_artifact(path)
    manifest = artifact.manifest
    assert manifest["export"]["parity_max_abs_diff"] <= 1e-5
    assert manifest["export"]["parity_rows"] == len(tiny_prepared.test)
    session = ort.InferenceSession(str(artifact.onnx_path))
    test = tiny_prepared.test
    rows = artifact.table[test.ids.numpy()]
    probability, logit = session.run(None, {"rows": rows, "values": test.values.numpy()})
    np.testing.assert_allclose(probability, predict(result.model, test), atol=1e-5)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), probability, atol=1e-6)


def test_onnx_has_a_dynamic_batch_and_passes_the_checker():
    proto = onnx.load_from_string(export_onnx(0.1, num_slots=5, dim=3))
    onnx.checker.check_model(proto, full_check=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [5, 4]
    session = ort.InferenceSession(proto.SerializeToString())
    for batch in (1, 7, 300):
        p, _ = session.run(
            None, {"rows": np.zeros((batch, 5, 4), np.float32), "values": np.ones((batch, 5), np.float32)}
        )
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-0.1)), rtol=1e-6)


def test_parity_failure_refuses_to_write(tiny_prepared, tmp_path, monkeypatch):
    model = FactorizationMachine(tiny_prepared.encoder.num_features, 4)
    # An exporter that disagrees with PyTorch (a wrong bias) must not produce an artifact.
    monkeypatch.setattr("training.export.export_onnx", lambda bias, slots, dim: export_onnx(bias + 0.5, slots, dim))
    with pytest.raises(ExportError, match="differ"):
        export_artifact(model, tiny_prepared.encoder, tmp_path, "bad", tiny_prepared.test, manifest_extra={})
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_parity_is_measured_not_assumed(tiny_prepared):
    model = FactorizationMachine(tiny_prepared.encoder.num_features, 4, init_std=0.5)
    good = export_onnx(0.0, tiny_prepared.encoder.num_slots, 4)
    rows = Tensors(tiny_prepared.test.ids, tiny_prepared.test.values, tiny_prepared.test.labels)
    assert parity(good, model, rows) <= 1e-5
    with torch.no_grad():
        model.bias += 1.0
    assert parity(good, model, rows) > 0.01
