"""Fixtures of the nightly job's tests: MovieLens-100k as daily partitions, configs, a real Pushgateway."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from load_tests.server import free_port
from tests.test_isolation import ROOT

FIRST_NIGHT = "1998-01-15"


@pytest.fixture(scope="session")
def daily_data(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from contract.schema import load_schema
    from training.data.replay import write_daily_partitions

    out = tmp_path_factory.mktemp("daily")
    write_daily_partitions(load_schema(ROOT / "datasets/ml100k.toml"), None, out)
    return out


def write_config(directory: Path, data: Path, extra: str = "") -> Path:
    """A small, fast nightly config (short windows, few epochs) over ``data``."""
    path = directory / "retrain.toml"
    path.write_text(f'''
model = "ml100k"
models_dir = "{directory / "models"}"
[data]
schema = "{ROOT / "datasets/ml100k_daily.toml"}"
path = "{data}"
train_days = 30
validation_days = 5
holdout_days = 3
[training]
epochs = 6
dim = 8
threads = 1
[gate]
min_auc = 0.55
{extra}
''')
    return path


@pytest.fixture
def pushgateway(tmp_path):
    """Debian's prometheus-pushgateway on a free loopback port (scripts/test.sh installs it), stopped by pid."""
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.fail("prometheus-pushgateway is not installed: run ./scripts/test.sh (it installs it)")
    port = free_port()
    process = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
