import json

import numpy as np
import pytest

from contract.artifact import ACTIVE, ArtifactError, load_artifact, resolve_artifact, set_active, write_artifact
from contract.encoding import FeatureEncoder
from contract.schema import parse_schema

SCHEMA = parse_schema({"name": "t", "label": {"column": "y"}, "fields": [{"name": "a"}, {"name": "b"}]})


@pytest.fixture
def encoder():
    return FeatureEncoder.fit(SCHEMA.fields, [{"a": ["x", "y"], "b": ["p", "q"]}])


def write(root, encoder, **kw):
    rng = np.random.default_rng(0)
    return write_artifact(
        root, "m", encoder=encoder, linear=rng.normal(size=6), embedding=rng.normal(size=(6, 3)), bias=0.25,
        onnx_model=b"not really onnx", manifest_extra={"metrics": {"auc": 0.5}}, **kw,
    )  # fmt: skip


def test_round_trip(tmp_path, encoder):
    path = write(tmp_path, encoder)
    artifact = load_artifact(tmp_path / "m")
    assert artifact.path == path
    assert artifact.bias == 0.25
    assert artifact.table.shape == (6, 4) and artifact.table.dtype == np.float32
    assert artifact.manifest["metrics"] == {"auc": 0.5}
    assert set(artifact.manifest["files"]) == {"model.onnx", "linear.npy", "embedding.npy", "vocab.json"}
    assert artifact.encoder.vocabularies() == encoder.vocabularies()


def test_no_incomplete_directory_is_left_behind(tmp_path, encoder):

    with pytest.raises(TypeError):
        write(tmp_path, encoder, extra_files={"x.bin": object()})  # type: ignore[dict-item]
    assert list((tmp_path / "m").iterdir()) == []
    with pytest.raises(ArtifactError, match="no complete model version"):
        resolve_artifact(tmp_path / "m")


def test_corrupted_file_is_refused(tmp_path, encoder):
    path = write(tmp_path, encoder)
    (path / "vocab.json").write_text(json.dumps({"a": ["x", "EVIL"], "b": ["p", "q"]}))
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(path)


def test_active_pointer_and_version_pinning(tmp_path, encoder):
    first = write(tmp_path, encoder, version="20260101T000000Z-aaaaaa")
    second = write(tmp_path, encoder, version="20260102T000000Z-bbbbbb", activate=False)
    assert resolve_artifact(tmp_path / "m") == first  # ACTIVE wins over newest
    assert resolve_artifact(tmp_path / "m", second.name) == second
    (tmp_path / "m" / ACTIVE).unlink()
    assert resolve_artifact(tmp_path / "m") == second  # newest complete version
    set_active(tmp_path / "m", first.name)
    assert resolve_artifact(tmp_path / "m") == first
    with pytest.raises(ArtifactError):
        set_active(tmp_path / "m", "missing")
    with pytest.raises(ArtifactError, match="not found"):
        resolve_artifact(tmp_path / "m", "missing")


def test_tables_must_match_the_encoder(tmp_path, encoder):
    with pytest.raises(ArtifactError, match="do not match"):
        write_artifact(tmp_path, "m", encoder=encoder, linear=np.zeros(5), embedding=np.zeros((5, 2)), bias=0.0,
                       onnx_model=b"", manifest_extra={})  # fmt: skip
