"""Shared fixtures: the tiny committed click log, and a model trained and exported from it once."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TINY_SCHEMA = FIXTURES / "tiny.toml"
TINY_DATA = FIXTURES / "tiny.csv"


@pytest.fixture(scope="session")
def tiny_schema():
    from contract.schema import load_schema

    return load_schema(TINY_SCHEMA)


@pytest.fixture(scope="session")
def tiny_prepared(tiny_schema):
    pytest.importorskip("torch")
    from training.pipeline import prepare

    return prepare(tiny_schema, TINY_DATA)


@pytest.fixture(scope="session")
def tiny_trained(tiny_prepared, tmp_path_factory):
    """(TrainResult, artifact version dir) for a small FM on tiny.csv."""
    from training.config import TrainConfig
    from training.export import export_artifact
    from training.train import train

    config = TrainConfig(dim=4, epochs=6, batch_size=64, lr=0.01, seed=1)
    result = train(config, tiny_prepared.train, tiny_prepared.validation, tiny_prepared.encoder.num_features,
                   progress=False)  # fmt: skip
    out = tmp_path_factory.mktemp("models")
    artifact = export_artifact(
        result.model, tiny_prepared.encoder, out, "tiny", tiny_prepared.test,
        manifest_extra={"dataset": {"name": "tiny"}, "metrics": {}}, reference_rows=tiny_prepared.validation,
    )  # fmt: skip
    return result, artifact


@pytest.fixture(scope="module")
def artifact_path(tiny_trained):
    """A version directory of a small FM trained on tests/fixtures/tiny.csv."""
    return tiny_trained[1]


@pytest.fixture(scope="module")
def sample_records(tiny_prepared):
    """Raw records of the tiny dataset's test split, as a client would send them."""
    from training.pipeline import raw_records

    return raw_records(tiny_prepared, tiny_prepared.split.test[:20])


@pytest.fixture(scope="session")
def movielens_trained(tmp_path_factory):
    """(PreparedData, version dir) of a quick FM on MovieLens-100k's time split, with its drift reference."""
    pytest.importorskip("torch")
    from contract.schema import load_schema
    from training.config import TrainConfig
    from training.export import export_artifact
    from training.pipeline import prepare
    from training.train import train

    prepared = prepare(load_schema("datasets/ml100k.toml"))
    result = train(TrainConfig(epochs=3, dim=8, seed=3), prepared.train, prepared.validation,
                   prepared.encoder.num_features, progress=False)  # fmt: skip
    out = tmp_path_factory.mktemp("models")
    artifact = export_artifact(result.model, prepared.encoder, out, "ml100k", prepared.test, {"metrics": {}},
                               reference_rows=prepared.validation)  # fmt: skip
    return prepared, artifact


# -- the candidate catalog ---------------------------------------------------------------------------
def copy_version(version_dir, root):
    """A copy of a version directory under ``root/<model>/`` (tests that add catalogs get their own)."""
    import shutil

    target = root / version_dir.parent.name / version_dir.name
    shutil.copytree(version_dir, target)
    return target


@pytest.fixture(scope="session")
def tiny_catalog_artifact(tiny_trained, tiny_prepared, tmp_path_factory):
    """A copy of the tiny version with the catalog `ctr train` writes: every training item, latest row."""
    from training.catalog import catalog_records, training_rows, write_version_catalog

    version = copy_version(tiny_trained[1], tmp_path_factory.mktemp("catalog"))
    records = catalog_records(tiny_prepared.schema, tiny_prepared.table, training_rows(tiny_prepared.split))
    write_version_catalog(version, records, "item", source={"test": "tiny"})
    return version


def catalog_of(version_dir):
    """The version's current catalog, loaded as a server loads it."""
    from contract.artifact import load_artifact
    from contract.catalog_files import load_catalog_dir

    return load_catalog_dir(version_dir, load_artifact(version_dir))
