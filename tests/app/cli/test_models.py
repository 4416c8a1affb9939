"""`ctr models`: list, show, history, and switching by hand with the servers' own checks, local and Redis."""

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from cli import main
from contract.registry import active_version
from tests.app.redis_helpers import SHARED_URL, another_version, delete_model, publish_to, unique_model, wait_for


@pytest.fixture
def model_dir(artifact_path, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(artifact_path.parent, root / artifact_path.parent.name)
    return root / artifact_path.parent.name


def models(*args, capsys):
    code = main(["models", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_show_promote_rollback_history(model_dir, artifact_path, capsys):
    first = artifact_path.name
    second = another_version(artifact_path, model_dir.parent, 1.5).name
    code, out, _ = models("list", "--model-dir", str(model_dir), "--json", capsys=capsys)
    assert code == 0
    assert {(v["version"], v["state"]) for v in json.loads(out)} == {(first, "active"), (second, "inactive")}
    code, out, _ = models("show", first, "--model-dir", str(model_dir), capsys=capsys)
    assert code == 0 and json.loads(out)["version"] == first and json.loads(out)["dataset"] == {"name": "tiny"}

    assert models("promote", second, "--model-dir", str(model_dir), "--reason", "better", capsys=capsys)[0] == 0
    assert active_version(model_dir) == second
    code, out, _ = models("list", "--model-dir", str(model_dir), "--json", capsys=capsys)
    assert {(v["version"], v["state"]) for v in json.loads(out)} == {(first, "previous"), (second, "active")}

    code, out, _ = models("rollback", "--model-dir", str(model_dir), capsys=capsys)
    assert code == 0 and f"rolled back to {first} (was {second})" in out
    assert active_version(model_dir) == first
    code, out, _ = models("history", "--model-dir", str(model_dir), "--json", capsys=capsys)
    lines = json.loads(out)
    assert [(h["version"], h["previous"], h["by"]) for h in lines[-2:]] == [(second, first, "promote"),
                                                                           (first, second, "rollback")]  # fmt: skip
    assert lines[-2]["reason"] == "better"


def test_promote_refuses_what_a_server_would_refuse(model_dir, artifact_path, capsys):
    bad = another_version(artifact_path, model_dir.parent, 2.0)
    (bad / "model.onnx").write_bytes(b"truncated")
    code, _, err = models("promote", bad.name, "--model-dir", str(model_dir), capsys=capsys)
    assert code == 2 and f"version {bad.name} refused (corrupt)" in err
    assert active_version(model_dir) == artifact_path.name  # the pointer did not move
    code, _, err = models("promote", "no-such-version", "--model-dir", str(model_dir), capsys=capsys)
    assert code == 2 and "refused (missing)" in err


def test_rollback_with_no_history_says_so(model_dir, capsys):
    (model_dir / "HISTORY.jsonl").unlink(missing_ok=True)
    code, _, err = models("rollback", "--model-dir", str(model_dir), capsys=capsys)
    assert code == 2 and "nothing to roll back to" in err


@pytest.mark.redis
def test_redis_promote_and_rollback_move_the_replicas(artifact_path, tmp_path, monkeypatch, capsys):
    model = unique_model()
    second = another_version(artifact_path, tmp_path, 1.5)
    monkeypatch.setenv("CTR_REDIS_URL", SHARED_URL)
    try:
        publish_to(SHARED_URL, artifact_path, model)
        publish_to(SHARED_URL, second, model, activate=False)
        settings = Settings(store="redis", redis_url=SHARED_URL, redis_model=model, redis_poll_seconds=0.1,
                            drain_seconds=0.0)  # fmt: skip
        with TestClient(create_app(settings)) as replica:
            ready = lambda: replica.get("/readyz").json().get("model_version")  # noqa: E731
            assert wait_for(ready) == artifact_path.name
            _, out, _ = models("list", "--redis", "--model", model, "--json", capsys=capsys)
            assert {(v["version"], v["state"]) for v in json.loads(out)} == {
                (artifact_path.name, "active"), (second.name, "inactive")}  # fmt: skip
            assert models("promote", second.name, "--redis", "--model", model, capsys=capsys)[0] == 0
            wait_for(lambda: ready() == second.name, timeout=5)
            assert models("rollback", "--redis", "--model", model, capsys=capsys)[0] == 0
            wait_for(lambda: ready() == artifact_path.name, timeout=5)
    finally:
        delete_model(SHARED_URL, model)


def test_promote_refuses_a_version_whose_candidate_catalog_is_corrupt(model_dir, artifact_path, capsys):
    from contract.catalog_files import CATALOG_DIR, current_generation
    from training.catalog import write_version_catalog

    other = another_version(artifact_path, model_dir.parent, 1.2)
    write_version_catalog(other, [{"item": 5, "tags": ["news"]}], "item", source={})
    (other / CATALOG_DIR / current_generation(other) / "sums.npy").write_bytes(b"tampered")
    code, _, err = models("promote", other.name, "--model-dir", str(model_dir), capsys=capsys)
    assert code == 2 and f"version {other.name} refused (corrupt)" in err and "candidate catalog" in err
    assert active_version(model_dir) == artifact_path.name
