"""Binary labels and timestamps from raw columns, and the rows dropped for want of them.

Documented drop reasons (counted, printed by the CLI and recorded in the manifest, never silent):

* ``missing_label``: the label column is empty/null on that row;
* ``missing_timestamp``: a time split is asked for and the timestamp is empty/null.

Anything else wrong with a label or timestamp (text, a non-binary label without a rule) is an error
naming the file and line.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from contract.schema import LABEL_RULE, DatasetSchema, LabelSpec
from training.data.chunks import Chunk
from training.data.errors import DataError

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
        "!=": operator.ne}  # fmt: skip
DROP_REASONS = ("missing_label", "missing_timestamp")


@dataclass(frozen=True)
class Derived:
    """A chunk's kept rows (``keep``), their labels and (if asked for) timestamps, and the drops."""

    keep: np.ndarray  # (n,) bool over the chunk's rows
    labels: np.ndarray  # (kept,) float32 in {0, 1}
    timestamps: np.ndarray | None  # (kept,) float64 seconds
    dropped: Counter = field(default_factory=Counter)


def derive(chunk: Chunk, schema: DatasetSchema, timestamps: bool) -> Derived:
    """Labels (and timestamps when ``timestamps``) of a chunk's rows, dropping rows that lack them."""
    label = schema.label
    if label.column not in chunk.columns:
        raise DataError(f"{chunk.path}: label column {label.column!r} is missing from the data")
    raw = to_float(chunk.columns[label.column], chunk, f"label column {label.column!r}")
    keep = ~np.isnan(raw)
    dropped = Counter({"missing_label": int(np.count_nonzero(~keep))})
    stamps = None
    if timestamps:
        column = schema.timestamp
        if column is None or column not in chunk.columns:
            raise DataError(f"{chunk.path}: the time split needs the timestamp column {column!r}")
        stamps = to_seconds(chunk.columns[column], chunk, f"timestamp column {column!r}")
        has_time = ~np.isnan(stamps)
        dropped["missing_timestamp"] = int(np.count_nonzero(keep & ~has_time))
        keep &= has_time
        stamps = stamps[keep]
    return Derived(keep, binary_labels(raw, keep, label, chunk), stamps, +dropped)


def binary_labels(raw: np.ndarray, keep: np.ndarray, label: LabelSpec, chunk: Chunk) -> np.ndarray:
    """Apply the label rule (or check the column is already 0/1) on the kept rows."""
    values = raw[keep]
    if label.rule is not None:
        match = LABEL_RULE.match(label.rule)
        assert match is not None  # validated with the schema
        return _OPS[match.group(1)](values, float(match.group(2))).astype(np.float32)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(keep)[np.argmax(bad)])
        raise DataError(
            f"{chunk.where(row)}: label column {label.column!r} is {raw[row]:g}, not 0 or 1; "
            'add a label.rule (e.g. rule = ">= 4", or "> 0" for -1/1 labels) to make it binary'
        )
    return values.astype(np.float32)


def to_float(column: np.ndarray, chunk: Chunk, what: str) -> np.ndarray:
    """Numbers (float64) from a raw column; empty/null values become NaN, text is an error naming its line."""
    if column.dtype.kind in "fiub":
        return column.astype(np.float64)
    try:
        return np.asarray(_blank_to_none(column), dtype=np.float64)
    except (TypeError, ValueError):
        pass
    for row, value in enumerate(column):  # find the culprit for the message
        try:
            float("nan" if value is None or value == "" else value)
        except (TypeError, ValueError):
            raise DataError(f"{chunk.where(row)}: {what} has {value!r}, not a number") from None
    raise AssertionError("unreachable: a column that failed to convert has no bad value")


def to_seconds(column: np.ndarray, chunk: Chunk, what: str) -> np.ndarray:
    """Timestamps as float64 seconds: numbers as they are, ISO dates/datetimes converted (UTC); NaN if missing."""
    if column.dtype.kind == "M":
        return _datetimes_to_seconds(column.astype("datetime64[s]"))
    column = _blank_to_none(column)
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    # Not all numbers: then every value must be an ISO date (numpy would read "17" as the year 17).
    for row, value in enumerate(column):
        if value is not None and not (isinstance(value, str) and "-" in value and _is_datetime(value)):
            raise DataError(f"{chunk.where(row)}: {what} has {value!r}, neither a number nor an ISO date/time")
    return _datetimes_to_seconds(np.asarray(column, dtype="datetime64[s]"))


def _is_datetime(value: str) -> bool:
    try:
        np.datetime64(value, "s")
    except ValueError:
        return False
    return True


def _blank_to_none(column: np.ndarray) -> np.ndarray:
    if column.dtype == object:
        blank = column == ""
        if blank.any():
            column = column.copy()
            column[blank] = None
    return column


def _datetimes_to_seconds(values: np.ndarray) -> np.ndarray:
    seconds = values.astype(np.int64).astype(np.float64)
    seconds[np.isnat(values)] = np.nan
    return seconds
