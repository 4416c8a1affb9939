"""Fixtures of the nightly job's tests: MovieLens-100k as daily partitions, configs, a real Pushgateway."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    from load_tests.observability import PUSHGATEWAY, Pushgateway

    if PUSHGATEWAY is None:
        pytest.fail("prometheus-pushgateway is not installed: run ./scripts/test.sh (it installs it)")
    gateway = Pushgateway(tmp_path / "pushgateway").start()
    try:
        yield gateway.url
    finally:
        gateway.stop()
