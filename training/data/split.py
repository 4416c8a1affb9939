"""Labels and train/validation/test splits over a table of raw columns."""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from contract.schema import LABEL_RULE, DatasetSchema, LabelSpec
from training.data.errors import DataError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
        "!=": operator.ne}  # fmt: skip


@dataclass(frozen=True)
class Split:
    """Row indices of each part, and how they were chosen (recorded in the manifest)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    method: str
    seed: int | None

    def describe(self) -> dict[str, object]:
        return {
            "method": self.method,
            "seed": self.seed,
            "rows": {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)},
        }


def labels_of(table: dict[str, np.ndarray], label: LabelSpec) -> np.ndarray:
    """Binary labels (float32) from the label column, applying the schema's rule if any."""
    if label.column not in table:
        raise DataError(f"label column {label.column!r} is missing from the data")
    raw = table[label.column]
    try:
        numbers = np.asarray(raw, dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"label column {label.column!r} is not numeric ({exc})") from exc
    if label.rule is not None:
        match = LABEL_RULE.match(label.rule)
        assert match is not None  # validated with the schema
        op, threshold = match.group(1), float(match.group(2))
        return _OPS[op](numbers, threshold).astype(np.float32)
    if not np.isin(numbers, (0.0, 1.0)).all():
        bad = numbers[~np.isin(numbers, (0.0, 1.0))][:3]
        raise DataError(f"label column {label.column!r} is not binary (e.g. {bad.tolist()}); add a label.rule")
    return numbers.astype(np.float32)


def split_rows(
    table: dict[str, np.ndarray], schema: DatasetSchema, method: str | None = None, seed: int | None = None
) -> Split:
    """Split rows by time (earliest first) or at random (seeded), in the schema's proportions."""
    method = method or schema.split.method
    seed = schema.split.seed if seed is None else seed
    n = len(next(iter(table.values())))
    if method == "time":
        if schema.timestamp is None or schema.timestamp not in table:
            raise DataError(f"time split needs the timestamp column {schema.timestamp!r}")
        try:
            stamps = np.asarray(table[schema.timestamp], dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"timestamp column {schema.timestamp!r} is not numeric ({exc})") from exc
        order = np.argsort(stamps, kind="stable")  # ties keep file order: deterministic
        seed = None
    elif method == "random":
        order = np.random.default_rng(seed).permutation(n)
    else:
        raise DataError(f"split method {method!r} is not supported here")
    n_train = round(schema.split.sizes[0] * n)
    n_valid = round(schema.split.sizes[1] * n)
    parts = np.split(order, [n_train, n_train + n_valid])
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        if len(part) == 0:
            raise DataError(f"the {name} split is empty ({n} rows, sizes {list(schema.split.sizes)})")
    return Split(parts[0], parts[1], parts[2], method, seed)
