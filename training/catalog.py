"""Building a model version's candidate catalog (``contract.catalog``) from a dataset or an items file.

Training writes the first generation (every item of the training split) before it activates the
version; ``ctr catalog build`` writes a new one for an existing version without retraining, from a
dataset (every row of a data file, by default) or from a JSON-lines file of items. An item's fields
come from its latest row: by timestamp for a time split, else the last one in reading order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contract.artifact import load_artifact
from contract.catalog import CatalogError, build_catalog, candidate_fields
from contract.catalog_files import current_generation, read_blobs, write_catalog
from contract.schema import DatasetSchema
from training.data.dataset import DataArg, read_dataset
from training.data.errors import DataError
from training.data.records import raw_records
from training.data.split import Split, split_spec


def training_rows(split: Split) -> np.ndarray:
    """The training rows oldest first: a time split's order, else reading order (a later row wins)."""
    return split.train if split.method == "time" else np.sort(split.train)


def catalog_records(schema: DatasetSchema, table: Mapping[str, np.ndarray], rows: np.ndarray) -> list[dict[str, Any]]:
    """The candidate-side fields of ``rows`` of a raw table, as a client would send them."""
    return raw_records([f for f in schema.fields if f.side == "candidate"], table, rows)


def write_version_catalog(
    version_dir: str | Path, records: Sequence[Mapping[str, Any]], key: str, source: Any, activate: bool = True
) -> dict[str, Any]:
    """Build the catalog of ``records`` with the version's own table and write it as a new generation."""
    artifact = load_artifact(version_dir)
    data = build_catalog(artifact.encoder, artifact.table, records, key)
    if not data.keys:
        raise CatalogError(f"no item has a {key!r} value: the catalog would be empty")
    generation = write_catalog(artifact.path, data, key=key, source=source, activate=activate)
    return {"version": artifact.version, "generation": generation, "key_field": key, "items": len(data.keys),
            "activated": activate}  # fmt: skip


def records_from_dataset(schema: DatasetSchema, data: DataArg, part: str) -> list[dict[str, Any]]:
    """Items of a dataset: its ``part`` (train, validation, test or all) rows, oldest first."""
    dataset = read_dataset(schema, data, split_spec(schema, None, None, None))
    if part == "train":
        rows = training_rows(dataset.split)
    elif part == "all":
        rows = np.arange(len(dataset))
        if dataset.split.method == "time":
            rows = np.concatenate([dataset.split.train, dataset.split.validation, dataset.split.test])
    else:
        rows = np.sort(getattr(dataset.split, part))
    return catalog_records(schema, dataset.columns, rows)


def records_from_items(path: str | Path) -> tuple[list[Any], list[int]]:
    """One JSON object per line (blank lines skipped), and each one's line number; errors name the line."""
    records, lines = [], []
    with Path(path).open(encoding="utf-8") as fh:
        for line_number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {line_number}: not valid JSON ({exc.msg})") from None
            lines.append(line_number)
    return records, lines


def default_key(version_dir: str | Path) -> str | None:
    """The candidate id field: the version's current catalog's, else its training schema's ``candidate_id``."""
    artifact = load_artifact(version_dir, verify=False)
    generation = current_generation(artifact.path)
    if generation is not None:
        return str(read_blobs(artifact.path, generation)[0]["key_field"])
    schema = artifact.manifest.get("dataset", {}).get("schema") or {}
    key = schema.get("candidate_id")
    return str(key) if key and any(f.spec.name == key for f in candidate_fields(artifact.encoder)) else None
