"""Rows of a raw table as a client would send them: lists for multi-valued fields, numbers, integer ids."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from contract.schema import FieldSpec


def raw_records(
    fields: Iterable[FieldSpec], table: Mapping[str, np.ndarray], rows: Iterable[int]
) -> list[dict[str, Any]]:
    """Rows ``rows`` of ``table`` (raw columns) as request records keyed by the ``fields``' sources."""
    specs = list(fields)
    records = []
    for r in rows:
        record: dict[str, Any] = {}
        for spec in specs:
            record[spec.source] = raw_value(spec, table[spec.source][r])
        records.append(record)
    return records


def raw_value(spec: FieldSpec, value: Any) -> Any:
    """One raw cell as a client would send it."""
    if isinstance(value, np.generic):
        value = value.item()  # numpy scalars (parquet) are not JSON
    if spec.kind == "multi_categorical" and isinstance(value, str) and spec.separator:
        value = [v for v in value.split(spec.separator) if v]
        if spec.weighting == "given":  # "a:0.5" items -> {"a": 0.5}
            value = {k: float(w) for k, _, w in (v.rpartition(":") for v in value)}
    elif spec.kind == "numeric" and isinstance(value, str | float):
        number = float(value) if not isinstance(value, str) or value.strip() else math.nan
        value = None if math.isnan(number) else (int(number) if number.is_integer() else number)
    elif spec.dtype == "int" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    return value
