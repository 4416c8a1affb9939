"""The offline job end to end: schema -> raw table -> split -> fitted contract -> tensors -> FM -> artifact."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contract.artifact import set_active
from contract.encoding import FeatureEncoder
from contract.metrics import auc, calibration, log_loss
from contract.schema import DatasetSchema, load_schema
from training.config import TrainConfig
from training.data import Split, encode_rows, fit_encoder, read_dataset, split_spec
from training.data.dataset import DataArg
from training.data.records import raw_records as raw_table_records
from training.tensors import Tensors
from training.train import TrainResult, predict, train

SAMPLE_REQUEST = "sample_request.json"
METRICS_LOG = "metrics.jsonl"


@dataclass(frozen=True)
class PreparedData:
    """A dataset ready to train on: its raw table, split, fitted encoder and encoded tensors."""

    schema: DatasetSchema
    table: dict[str, np.ndarray]
    split: Split
    encoder: FeatureEncoder
    train: Tensors
    validation: Tensors
    test: Tensors
    dropped: dict[str, int] = field(default_factory=dict)  # rows left out, by documented reason


def prepare(
    schema: DatasetSchema,
    data: DataArg = None,
    split: str | None = None,
    seed: int | None = None,
    sizes: tuple[float, float, float] | None = None,
) -> PreparedData:
    """Read, split, fit the encoder on the training part only, and encode every part.

    ``data`` is a file or directory, or ``{"train": ..., "validation": ..., "test": ...}`` for a given split.
    """
    dataset = read_dataset(schema, data, split_spec(schema, split, seed, sizes))
    parts = dataset.split
    encoder = fit_encoder(schema.fields, dataset, parts.train)

    def tensors(rows: np.ndarray) -> Tensors:
        batch = encode_rows(encoder, dataset, rows)
        labels = torch.from_numpy(dataset.labels[rows])
        return Tensors(torch.from_numpy(batch.ids), torch.from_numpy(batch.values), labels)

    return PreparedData(
        schema, dataset.columns, parts, encoder, tensors(parts.train), tensors(parts.validation),
        tensors(parts.test), dataset.dropped,
    )  # fmt: skip


def raw_records(prepared: PreparedData, rows: np.ndarray) -> list[dict[str, Any]]:
    """Rows of the raw table as a client would send them (lists for multi-valued fields, numbers)."""
    return raw_table_records(prepared.schema.fields, prepared.table, rows)


def test_report(result: TrainResult, prepared: PreparedData) -> dict[str, Any]:
    """Test metrics of the best-validation model."""
    p = predict(result.model, prepared.test)
    y = prepared.test.labels.numpy()
    calib = calibration(y, p)
    return {
        "validation": result.best_validation,
        "test": {"auc": auc(y, p), "logloss": log_loss(y, p), "ece": calib["ece"], "positive_rate": float(y.mean())},
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
    }


def run(
    schema_path: str | Path,
    config: TrainConfig,
    data: DataArg = None,
    out_dir: str | Path = "models",
    name: str | None = None,
    split: str | None = None,
    split_seed: int | None = None,
    split_sizes: tuple[float, float, float] | None = None,
    export: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on a dataset and (by default) export it; returns a summary including the artifact path."""
    from training.export import export_artifact

    schema = load_schema(schema_path)
    prepared = prepare(schema, data, split, split_seed, split_sizes)
    _say(progress, _describe(prepared))
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / METRICS_LOG
        result = train(config, prepared.train, prepared.validation, prepared.encoder.num_features, log_path, progress)
        report = test_report(result, prepared)
        summary: dict[str, Any] = {
            "dataset": schema.name, "split": prepared.split.describe(), "dropped_rows": prepared.dropped, **report
        }  # fmt: skip
        if export:
            test_rows = prepared.split.test
            sample = raw_records(prepared, test_rows[np.linspace(0, len(test_rows) - 1, 5).astype(int)])
            artifact = export_artifact(
                result.model,
                prepared.encoder,
                out_dir,
                name or schema.name,
                check_rows=prepared.test,
                reference_rows=prepared.validation,
                manifest_extra={
                    "dataset": {
                        "name": schema.name,
                        "schema": schema.to_dict(),
                        "data": _data_repr(data),
                        "dropped_rows": prepared.dropped,
                    },
                    "split": prepared.split.describe(),
                    "metrics": report,
                    "training": config.to_dict(),
                },
                extra_files={
                    METRICS_LOG: log_path.read_bytes(),
                    SAMPLE_REQUEST: json.dumps({"records": sample}, indent=2).encode(),
                },
                activate=False,  # the catalog goes in first: a server never loads the version without it
            )
            if schema.candidate_id is not None:
                summary["catalog"] = _write_catalog(artifact, prepared)
            set_active(artifact.parent, artifact.name)
            summary["artifact"] = str(artifact)
    return summary


def _write_catalog(artifact: Path, prepared: PreparedData) -> dict[str, Any]:
    """Every training item's candidate fields and FM terms, beside the version (docs/ranking.md)."""
    from training.catalog import catalog_records, training_rows, write_version_catalog

    key = prepared.schema.candidate_id
    assert key is not None
    records = catalog_records(prepared.schema, prepared.table, training_rows(prepared.split))
    return write_version_catalog(artifact, records, key, source={"training_split": prepared.split.method})


def _describe(prepared: PreparedData) -> str:
    s = prepared.split.describe()["rows"]
    rate = float(prepared.train.labels.mean())
    return (
        f"{prepared.schema.name}: {s['train']:,} train / {s['validation']:,} validation / {s['test']:,} test rows "
        f"({prepared.split.method} split), {prepared.encoder.num_features:,} features in "
        f"{len(prepared.encoder.fields)} fields, {prepared.encoder.num_slots} slots, train positive rate {rate:.3f}"
        + "".join(f"; dropped {n:,} rows ({reason.replace('_', ' ')})" for reason, n in prepared.dropped.items())
    )


def _data_repr(data: DataArg) -> str | dict[str, str] | None:
    if isinstance(data, Mapping):
        return {part: str(path) for part, path in data.items()}
    return None if data is None else str(data)


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
