"""The datasets of the reproduction study, by name: MovieLens-100k (time split) and planted-interaction data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from training.experiments.planted import PlantedConfig, generate
from training.tensors import Tensors

ROOT = Path(__file__).resolve().parents[2]
PLANTED = {
    "planted": PlantedConfig(),
    "planted-weak": PlantedConfig(context_std=0.1),
    "planted-aligned": PlantedConfig(context_std=0.1, aligned=0.7),
}
SCHEMAS = {
    "ml100k": ROOT / "datasets" / "ml100k.toml",
    "ml100k-onehot": ROOT / "benchmarks" / "peers" / "ml100k_onehot.toml",  # no multi-valued field, for peers
}
NAMES = (*SCHEMAS, *PLANTED)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Tensors
    validation: Tensors
    test: Tensors
    num_features: int
    description: dict[str, object]
    test_cross: np.ndarray | None = None  # planted data: rows whose (user, item) never co-occur in training
    test_probability: np.ndarray | None = None  # planted data: the true click probabilities


def fingerprint(name: str) -> str:
    """What a cached result of ``name`` depends on beyond the code: the schema file's sha256 (empty for
    generated data, whose configuration is fixed in this module)."""
    import hashlib

    return hashlib.sha256(SCHEMAS[name].read_bytes()).hexdigest()[:16] if name in SCHEMAS else ""


@cache
def load(name: str) -> Dataset:
    """The named dataset (cached per process); the split and generator seeds are fixed."""
    if name in PLANTED:
        data = generate(PLANTED[name])
        return Dataset(
            name, data.train, data.validation, data.test, data.num_features,
            {"generator": "training/experiments/planted.py", **data.config.to_dict(),
             "rows": {"train": len(data.train), "validation": len(data.validation), "test": len(data.test)}},
            data.test_cross, data.test_probability,
        )  # fmt: skip
    if name in SCHEMAS:
        from contract.schema import load_schema
        from training.pipeline import prepare

        prepared = prepare(load_schema(SCHEMAS[name]))
        return Dataset(
            name, prepared.train, prepared.validation, prepared.test, prepared.encoder.num_features,
            {"schema": str(SCHEMAS[name].relative_to(ROOT)), "split": prepared.split.describe(),
             "slots": prepared.encoder.num_slots, "features": prepared.encoder.num_features,
             "fields": [{"name": f.spec.name, "offset": f.offset, "size": f.size} for f in prepared.encoder.fields]},
        )  # fmt: skip
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
