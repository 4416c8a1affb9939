"""The server-only install (what the Dockerfile does): `pip install .` into a fresh venv, no torch, serves.

Slow (a real install, about a minute): `./scripts/test.sh -m slow tests/test_server_install.py`.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import venv
from pathlib import Path

import pytest

from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_server_only_install_serves_without_torch(tmp_path, tiny_trained):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    no_torch = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr

    port = free_port()
    server = subprocess.Popen(
        [env_dir / "bin" / "ctr", "serve", "--model-dir", str(tiny_trained[1]), "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.3)
        request = urllib.request.Request(
            f"{url}/v1/score", data=json.dumps({"records": [{"user": 1, "item": 2}]}).encode(),
            headers={"content-type": "application/json"},
        )  # fmt: skip
        body = json.loads(urllib.request.urlopen(request, timeout=5).read())
        assert 0 < body["probabilities"][0] < 1
    finally:
        server.terminate()
        server.wait(timeout=10)
