"""A small synthetic Criteo-like dataset (8 shards over 4 dates), generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = ROOT / "datasets" / "criteo_synthetic.toml"


@pytest.fixture(scope="session")
def small_spec():
    from training.stream.synthetic import SyntheticSpec

    # ~24k categorical values in all: a 60k-row training part sees most of the frequent ones
    return SyntheticSpec(rows=120_000, shard_rows=15_000, shards_per_day=2, seed=7, cardinality_scale=0.02)


@pytest.fixture(scope="session")
def small_data(small_spec, tmp_path_factory) -> Path:
    from training.stream.synthetic import generate

    out = tmp_path_factory.mktemp("criteo_small")
    generate(small_spec, out, progress=False)
    return out


def job_file(tmp_path: Path, data: Path, publish: str | None = None, **training: object) -> Path:
    """A job file training on ``data`` quickly (small batches, 2 epochs), exporting to tmp_path/models
    (and publishing to the shared Redis under the model name ``publish``)."""
    settings = {"dim": 4, "lr": 0.01, "batch_size": 1024, "epochs": 2, "patience": 1, "l2": 0.01, "threads": 1,
                "sparse": True, **training}  # fmt: skip
    lines = [f'dataset = "{SCHEMA}"', f'data = "{data}"', f'out = "{tmp_path / "models"}"', 'name = "small"',
             "[input]", "chunk_rows = 8192", "buffer_rows = 32768", "[training]"]  # fmt: skip
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in settings.items()]
    if publish is not None:
        lines += ["[publish]", 'redis_url = "redis://127.0.0.1:6379/0"', f'model = "{publish}"', "shards = 4"]
    path = tmp_path / "job.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def redis_model():
    """A model name of its own on the shared 127.0.0.1:6379, with every key removed afterwards."""
    from tests.app.redis_helpers import SHARED_URL, delete_model, unique_model

    name = unique_model()
    yield name
    delete_model(SHARED_URL, name)
