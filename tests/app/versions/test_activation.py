"""In-process servers follow ACTIVE: load beside, swap in one assignment, refuse what fails its checks."""

import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from contract.artifact import load_artifact, set_active
from tests.app.conftest import post
from tests.app.redis_helpers import another_version, metric, wait_for


@pytest.fixture
def model_dir(artifact_path, tmp_path):
    """A private copy of the tiny model directory, with its version active."""
    root = tmp_path / "models"
    shutil.copytree(artifact_path.parent, root / artifact_path.parent.name)
    return root / artifact_path.parent.name


@pytest.fixture
def served(model_dir):
    settings = Settings(model_dir=model_dir, model_poll_seconds=0.05, drain_seconds=0.0)
    with TestClient(create_app(settings)) as client:
        yield client


def version_of(client) -> str:
    return client.get("/readyz").json().get("model_version")


def test_a_new_active_version_is_swapped_in_and_named_in_answers(served, model_dir, artifact_path, sample_records):
    before = post(served, {"records": sample_records}).json()
    assert before["model_version"] == artifact_path.name
    new = another_version(artifact_path, model_dir.parent, scale=1.5)
    set_active(model_dir, new.name)
    wait_for(lambda: version_of(served) == new.name, timeout=5)
    after = post(served, {"records": sample_records}).json()
    assert after["model_version"] == new.name and after["probabilities"] != before["probabilities"]
    assert metric(served, "ctr_model_activations_total") == 2
    trained_at = load_artifact(new).manifest["created_at"]  # ctr_model_info carries the training date too
    assert metric(served, "ctr_model_info", f'name="tiny",trained_at="{trained_at}",version="{new.name}"') == 1
    set_active(model_dir, artifact_path.name)  # a rollback is just another activation
    wait_for(lambda: version_of(served) == artifact_path.name, timeout=5)
    assert post(served, {"records": sample_records}).json()["probabilities"] == before["probabilities"]


@pytest.mark.parametrize("damage", ["bad_sha", "truncated_onnx", "missing_file"])
def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(served, model_dir, artifact_path,
                                                                    sample_records, damage):  # fmt: skip
    bad = another_version(artifact_path, model_dir.parent, scale=2.0)
    if damage == "bad_sha":
        (bad / "linear.npy").write_bytes((bad / "linear.npy").read_bytes()[:-4] + b"\0\0\0\0")
    elif damage == "truncated_onnx":
        (bad / "model.onnx").write_bytes((bad / "model.onnx").read_bytes()[:100])
    else:
        (bad / "vocab.json").unlink()
    set_active(model_dir, bad.name)
    reason = "incomplete" if damage == "missing_file" else "corrupt"
    wait_for(lambda: metric(served, "ctr_model_activation_refusals_total", f'reason="{reason}"') == 1, timeout=5)
    answer = post(served, {"records": sample_records})
    assert answer.status_code == 200 and answer.json()["model_version"] == artifact_path.name
    assert version_of(served) == artifact_path.name


def test_a_version_whose_scorer_does_not_run_is_refused_as_incompatible(served, model_dir, artifact_path):
    import json

    from contract.artifact import load_artifact as load
    from contract.artifact import write_artifact

    base = load(artifact_path)
    bogus = write_artifact(model_dir.parent, model_dir.name, encoder=base.encoder, linear=base.table[:, 0],
                           embedding=base.table[:, 1:], bias=0.0, onnx_model=b"not an onnx graph",
                           manifest_extra={"metrics": {}}, activate=True)  # fmt: skip
    assert json.loads((bogus / "manifest.json").read_text())["version"] == bogus.name
    wait_for(lambda: metric(served, "ctr_model_activation_refusals_total", 'reason="incompatible"') == 1, timeout=5)
    assert version_of(served) == artifact_path.name


def test_a_pinned_version_ignores_the_pointer(model_dir, artifact_path):
    settings = Settings(model_dir=model_dir, model_version=artifact_path.name, model_poll_seconds=0.05)
    with TestClient(create_app(settings)) as client:
        new = another_version(artifact_path, model_dir.parent, scale=1.5)
        set_active(model_dir, new.name)
        with pytest.raises(AssertionError):
            wait_for(lambda: version_of(client) == new.name, timeout=0.5)
        assert version_of(client) == artifact_path.name
