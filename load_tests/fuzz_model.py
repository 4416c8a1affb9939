"""A small real model to fuzz when none is given: the tests' tiny click log, trained and exported with its catalog.

The same recipe as the ``artifact_path`` / ``tiny_catalog_artifact`` fixtures (tests/conftest.py): a
4-dimensional FM on tests/fixtures/tiny.csv (categorical ids, a lower-cased string, a bucketised
number, a multi-valued field split on ``|``), whose version carries a candidate catalog so that
``/v1/rank`` takes ``candidate_ids``. Needs the ``[train]`` extra (torch); a few seconds.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures"


def tiny_artifact(out: Path) -> Path:
    """Train, export and catalog the tiny model under ``out``; returns its version directory."""
    from contract.schema import load_schema
    from training.catalog import catalog_records, training_rows, write_version_catalog
    from training.config import TrainConfig
    from training.export import export_artifact
    from training.pipeline import prepare
    from training.train import train

    prepared = prepare(load_schema(TINY / "tiny.toml"), TINY / "tiny.csv")
    config = TrainConfig(dim=4, epochs=6, batch_size=64, lr=0.01, seed=1)
    result = train(config, prepared.train, prepared.validation, prepared.encoder.num_features, progress=False)
    version = export_artifact(result.model, prepared.encoder, out, "tiny", prepared.test,
                              manifest_extra={"dataset": {"name": "tiny"}, "metrics": {}},
                              reference_rows=prepared.validation)  # fmt: skip
    records = catalog_records(prepared.schema, prepared.table, training_rows(prepared.split))
    write_version_catalog(version, records, "item", source={"fuzz": "tiny"})
    return version
