"""Raw values -> canonical values, per field kind: what a client or a data file may send for a field.

* categorical: a string, or an integer (also an integral float below 2**53) turned into its decimal string;
  ``dtype = "int"`` also accepts integer strings and normalises them (``"0196"`` -> ``"196"``).
  A ``transform`` (``prefix:<n>``, ``lower``) is then applied.
* multi_categorical: a list of such values, or one string split on the field's ``separator``;
  each value gets weight 1 (``weighting = "one"``) or 1/len (``"mean"``). With
  ``weighting = "given"`` every value carries its own weight, which becomes the slot's value (the
  ``x`` of an FM, e.g. a libFM ``id:value`` pair): ``{"value": weight, ...}``, a list of
  ``[value, weight]`` pairs or ``"value:weight"`` strings, or one string ``"a:0.5|b:2"`` split on the
  separator. A weighted single value is such a field with ``max_length = 1``. Weights are finite and
  within ±``MAX_WEIGHT`` (1e9).
* numeric: a number (or a numeric string), bucketised by boundaries into a one-hot bucket feature.

``None``, NaN, ``""`` and an empty list mean *missing*: a missing optional field is encoded as its
OOV feature with value 1; a missing required field is an error. Anything else that cannot be read
raises :class:`EncodingError` naming the field (its request key) and the row.

Whole columns that arrive as numpy arrays of numbers (Parquet, pandas) are read without a per-value
Python loop (:func:`integer_column`, :func:`numeric_column`), with the same result as value by value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from contract.schema import FieldSpec

# A given weight is a float32 slot value that meets embedding sums squared: a weight of 1e30 overflowed
# float32 in the FM's pair term and came back as a NaN (null) probability. 1e9 keeps the square of any
# sane row far inside float32 and is far above the weights of real data (tf-idf, counts, libFM values).
MAX_WEIGHT = 1e9
# Integers from 2**53 on are not all floats: a float id that large (JSON parsers read integers past 64 bits
# as floats) may not be the id that was written, so it is refused rather than coerced.
EXACT_FLOAT = 2.0**53


class EncodingError(ValueError):
    """A raw value cannot be encoded. ``field`` is the request key (raw column) at fault."""

    def __init__(self, field: str | None, message: str, row: int | None = None) -> None:
        where = f"{field}" if row is None else f"{field} (record {row})"
        super().__init__(f"{where}: {message}" if field else message)
        self.field = field
        self.row = row
        self.message = message


class ValueParser:
    """Reads one field's raw values; :class:`contract.field.FieldEncoder` adds the ids on top."""

    def __init__(self, spec: FieldSpec) -> None:
        self.spec = spec
        self._prefix = int(spec.transform.split(":")[1]) if (spec.transform or "").startswith("prefix:") else 0

    def canonical(self, value: Any, row: int | None = None) -> str | None:
        """The vocabulary spelling of one categorical value, or None when missing."""
        kind = type(value)
        if kind is str:
            if not value:
                return None
            if self.spec.dtype == "int":
                text = value.strip()
                digits = text[1:] if text[:1] == "-" else text
                # ASCII only: isdigit() also accepts "²" (which int() refuses) and "٣" (which int() reads
                # as 3, a different spelling of an id rather than a lossless coercion).
                if not (digits.isascii() and digits.isdigit()):
                    raise EncodingError(self.spec.source, f"expected an integer id, got {value!r}", row)
                value = str(int(text))
        elif kind is int or isinstance(value, np.integer):
            value = str(int(value))
        elif kind is float or isinstance(value, np.floating):
            if math.isnan(value):
                return None
            if not float(value).is_integer():
                raise EncodingError(self.spec.source, f"expected a string or integer id, got {value!r}", row)
            if abs(value) >= EXACT_FLOAT:  # its digits are not the ones written: no lossless id
                raise EncodingError(self.spec.source, f"id {value!r} is past 2**53 as a number: send it as a string",
                                    row)  # fmt: skip
            value = str(int(value))
        elif value is None:
            return None
        else:
            raise EncodingError(self.spec.source, f"expected a string or integer, got {json_type(value)}", row)
        if self._prefix:
            return value[: self._prefix]
        if self.spec.transform == "lower":
            return value.lower()
        return value

    def number(self, value: Any, row: int | None = None) -> float | None:
        """A numeric field's value as float, or None when missing."""
        kind = type(value)
        if kind is float or kind is int or isinstance(value, np.integer | np.floating):
            number = _float(value)
        elif value is None:
            return None
        elif kind is str:
            if not value.strip():
                return None
            try:
                number = float(value)
            except ValueError:
                raise EncodingError(self.spec.source, f"expected a number, got {value!r}", row) from None
        else:
            raise EncodingError(self.spec.source, f"expected a number, got {json_type(value)}", row)
        if math.isnan(number):
            return None
        if math.isinf(number):
            raise EncodingError(self.spec.source, "expected a finite number", row)
        return number

    def items(self, value: Any, row: int | None = None) -> list[str] | None:
        """A multi-valued field's canonical values, or None when missing."""
        if self.spec.weighting == "given":
            weighted = self.weighted_items(value, row)
            return None if weighted is None else weighted[0]
        if value is None:
            return None
        if isinstance(value, str):
            if self.spec.separator is None:
                raise EncodingError(self.spec.source, "expected a list of values", row)
            parts: Iterable[Any] = (p for p in value.split(self.spec.separator) if p)
        elif isinstance(value, list | tuple | np.ndarray):
            parts = value
        elif isinstance(value, float) and math.isnan(value):
            return None
        else:
            raise EncodingError(self.spec.source, f"expected a list, got {json_type(value)}", row)
        items = []
        for part in parts:
            item = self.canonical(part, row)
            if item is not None:
                items.append(item)
        if len(items) > self.spec.max_length:
            raise EncodingError(
                self.spec.source, f"has {len(items)} values, more than max_length={self.spec.max_length}", row
            )
        return items or None

    def weighted_items(self, value: Any, row: int | None = None) -> tuple[list[str], list[float]] | None:
        """A ``weighting = "given"`` field's canonical values and their weights, or None when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, dict):
            pairs: Iterable[Any] = value.items()
        elif isinstance(value, str):
            if self.spec.separator is None:
                raise EncodingError(self.spec.source, "expected an object of {value: weight}", row)
            pairs = (self._pair(p, row) for p in value.split(self.spec.separator) if p)
        elif isinstance(value, list | tuple | np.ndarray):
            pairs = (self._pair(p, row) for p in value)
        else:
            expected = f"expected an object of {{value: weight}}, got {json_type(value)}"
            raise EncodingError(self.spec.source, expected, row)
        keys, weights = [], []
        for raw, weight in pairs:
            key = self.canonical(raw, row)
            if key is not None:
                keys.append(key)
                weights.append(self._weight(weight, row))
        if len(keys) > self.spec.max_length:
            raise EncodingError(
                self.spec.source, f"has {len(keys)} values, more than max_length={self.spec.max_length}", row
            )
        return (keys, weights) if keys else None

    def _pair(self, part: Any, row: int | None) -> tuple[Any, Any]:
        if isinstance(part, str):
            raw, colon, weight = part.rpartition(":")
            if colon:
                return raw, weight
            raise EncodingError(self.spec.source, f"expected 'value:weight', got {part!r}", row)
        if isinstance(part, list | tuple) and len(part) == 2:
            return part[0], part[1]
        raise EncodingError(self.spec.source, f"expected a [value, weight] pair, got {json_type(part)}", row)

    def _weight(self, weight: Any, row: int | None) -> float:
        kind = type(weight)
        if kind is str:
            try:
                number = float(weight)
            except ValueError:
                raise EncodingError(self.spec.source, f"expected a numeric weight, got {weight!r}", row) from None
        elif kind is float or kind is int or isinstance(weight, np.integer | np.floating):
            number = _float(weight)
        else:
            raise EncodingError(self.spec.source, f"expected a numeric weight, got {json_type(weight)}", row)
        if not abs(number) <= MAX_WEIGHT:  # also NaN and ±inf
            raise EncodingError(self.spec.source, f"weights must be finite numbers within ±{MAX_WEIGHT:.0e}", row)
        return number


def _float(number: Any) -> float:
    """A JSON number as float; an integer beyond float's range becomes ±inf (refused by the caller)."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def integer_column(column: Any, spec: FieldSpec) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A categorical column as (int64 values, missing mask or None) when it is a numpy array of integers,
    or of integral floats with NaN for missing values, and the field has no transform; else None.

    Such values' canonical spelling is ``str(int(v))`` whatever the field's dtype (:meth:`ValueParser.canonical`), so
    they can be counted and looked up as integers. A float that is not integral falls back to the
    per-value path, which raises the error naming its row.
    """
    if spec.transform is not None or not isinstance(column, np.ndarray) or column.dtype.kind not in "iuf":
        return None
    if column.dtype.kind == "u" and column.dtype.itemsize == 8:
        return None  # may not fit int64
    if column.dtype.kind != "f":
        return column.astype(np.int64, copy=False), None
    missing = np.isnan(column)
    present = column[~missing]
    exact = np.abs(present).max(initial=0.0) < 2**53  # also false for inf
    if not (exact and (present == np.floor(present)).all()):
        return None
    values = np.zeros(len(column), dtype=np.int64)
    values[~missing] = present.astype(np.int64)
    return values, missing if missing.any() else None


def numeric_column(column: Any, probe: ValueParser) -> np.ndarray:
    """A numeric column as float64 with NaN for missing values (vectorised for numpy number arrays)."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "iuf":
        numbers = column.astype(np.float64, copy=False)
        if not np.isinf(numbers).any():
            return numbers
    values = (probe.number(v, r) for r, v in enumerate(column))  # raises naming the row at fault
    return np.fromiter((math.nan if v is None else v for v in values), np.float64, len(column))


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__
