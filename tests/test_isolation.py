"""The server must install and import without torch; training must not import the server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TORCH = """
import sys
class _BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _BlockTorch())
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True)


def test_server_runs_with_torch_unavailable(tiny_trained):
    artifact_dir = tiny_trained[1]
    result = run_python(
        BLOCK_TORCH
        + f"""
from fastapi.testclient import TestClient
import app.main, app.cli.client, cli, app.versions.activation, app.stores.publish, app.stores.redis_store
from app.settings import Settings
with TestClient(app.main.create_app(Settings(model_dir={str(artifact_dir)!r}))) as client:
    response = client.post("/v1/score", json={{"records": [{{"user": 1, "item": 2}}]}})
    assert response.status_code == 200, response.text
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
print("ok")
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_ctr_train_without_torch_says_how_to_install():
    result = run_python(BLOCK_TORCH + "from cli import main; sys.exit(main(['train']))")
    assert result.returncode == 2
    assert "pip install -e '.[train]'" in result.stderr


def test_training_never_imports_the_server():
    result = run_python(
        "import sys, training.pipeline, training.export, training.cli\n"
        "print(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_contract_imports_only_numpy_and_stdlib():
    result = run_python(
        "import sys; before = set(sys.modules); import contract, contract.fm\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'contract', 'numpy'}))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_base_install_resolves_without_torch(tmp_path):
    """`pip install .` (the server) must not pull torch; `.[train]` must pin torch==2.13.0."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
         str(report), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"pip could not resolve the base install:\n{result.stderr[-2000:]}")
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "onnxruntime" in names and "fastapi" in names
    assert not names & {"torch", "nvidia-cublas-cu12", "triton"}, names
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "torch==2.13.0" in extras["train"]
