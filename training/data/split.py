"""Train/validation/test splits: ``random`` (seeded), ``time`` (earliest first) or ``given`` (by file).

A split is planned from the number of kept rows (and their timestamps), so the in-memory pipeline
and the streaming ``ctr dataset inspect`` put every row in the same part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from contract.schema import SPLIT_METHODS, SPLIT_PARTS, DatasetSchema, SplitSpec
from training.data.errors import DataError

TRAIN, VALIDATION, TEST = 0, 1, 2  # part codes of Split.assignment


@dataclass(frozen=True)
class Split:
    """Row indices of each part, and how they were chosen (recorded in the manifest)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    method: str
    seed: int | None
    sizes: tuple[float, float, float] | None = None
    files: dict[str, str] | None = None

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {
            "method": self.method,
            "seed": self.seed,
            "rows": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
        }
        if self.sizes is not None:
            out["sizes"] = list(self.sizes)
        if self.files is not None:
            out["files"] = dict(self.files)
        return out

    def assignment(self) -> np.ndarray:
        """(n,) int8: the part code (TRAIN, VALIDATION, TEST) of every row."""
        parts = np.empty(len(self.train) + len(self.validation) + len(self.test), dtype=np.int8)
        parts[self.train], parts[self.validation], parts[self.test] = TRAIN, VALIDATION, TEST
        return parts


def split_spec(
    schema: DatasetSchema,
    method: str | None = None,
    seed: int | None = None,
    sizes: tuple[float, float, float] | None = None,
) -> SplitSpec:
    """The schema's split with command-line overrides applied (and checked)."""
    spec = schema.split
    if method is not None:
        if method not in SPLIT_METHODS:
            raise DataError(f"--split: {method!r} is not one of {', '.join(SPLIT_METHODS)}")
        spec = dataclasses.replace(spec, method=method, files=spec.files if method == "given" else None)
    if seed is not None:
        spec = dataclasses.replace(spec, seed=seed)
    if sizes is not None:
        if len(sizes) != 3 or min(sizes) <= 0 or abs(sum(sizes) - 1.0) > 1e-6:
            raise DataError(f"--split-sizes: need three positive fractions summing to 1, got {list(sizes)}")
        spec = dataclasses.replace(spec, sizes=tuple(float(s) for s in sizes))
    if spec.method == "time" and schema.timestamp is None:
        raise DataError(f"a time split needs a timestamp column; schema {schema.name!r} declares none")
    return spec


def plan_split(n: int, spec: SplitSpec, timestamps: np.ndarray | None = None) -> Split:
    """Split ``n`` rows by time (earliest first, ties in reading order) or at random (seeded)."""
    if spec.method == "time":
        if timestamps is None or len(timestamps) != n:
            raise DataError("a time split needs every row's timestamp")
        order = np.argsort(timestamps, kind="stable")
        seed = None
    elif spec.method == "random":
        order = np.random.default_rng(spec.seed).permutation(n)
        seed = spec.seed
    else:
        raise DataError(f"split method {spec.method!r} needs one file per part (split.files or --data part=path)")
    n_train = round(spec.sizes[0] * n)
    n_valid = round(spec.sizes[1] * n)
    parts = np.split(order, [n_train, n_train + n_valid])
    for name, part in zip(SPLIT_PARTS, parts, strict=True):
        if len(part) == 0:
            raise DataError(f"the {name} split is empty ({n} rows with a label, sizes {list(spec.sizes)})")
    return Split(parts[0], parts[1], parts[2], spec.method, seed, spec.sizes)


def given_split(rows: Mapping[str, int], files: Mapping[str, str]) -> Split:
    """The split of rows read part after part (train rows first, then validation, then test)."""
    for name in SPLIT_PARTS:
        if rows[name] == 0:
            raise DataError(f"the {name} split is empty: {files[name]} has no rows with a label")
    ends = np.cumsum([rows[name] for name in SPLIT_PARTS])
    train, validation, test = np.split(np.arange(ends[-1]), ends[:-1])
    return Split(train, validation, test, "given", None, None, dict(files))
