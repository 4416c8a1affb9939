"""libFM / libSVM text: ``label id:value id:value ...`` per line, the FM benchmark format.

How a line becomes raw columns (the contract and the server never see libFM, only these columns):

* The first token is the label, stored in the schema's ``label.column`` (for ``-1``/``1`` labels write
  ``rule = "> 0"``).
* Every ``id:value`` pair goes to one raw column of the schema:

  - with ``source.field_map``, by feature id: the map's ``<feature id> <field> [<raw value>]`` lines
    name the field (by name or source column) and the raw value the id stands for (default: the id
    itself), so a model trained on libFM can be scored with the same raw values as its CSV twin;
  - without it, by position: the k-th pair to the k-th raw column (``schema.sources``), the layout of
    the NFM/AFM/SMFM benchmark files (frappe, MovieLens-tag), one feature per field on every line.

* What the column holds depends on the field reading it:

  - ``categorical``: the raw value; one per line, and the pair's value must be 1 (the contract gives a
    categorical feature the value 1);
  - ``multi_categorical``: the list of raw values (values must be 1); with ``weighting = "given"`` a
    ``{raw value: value}`` dict instead, so the libFM value becomes the FM's feature value x (use
    ``max_length = 1`` for one weighted feature per line);
  - ``numeric``: the pair's value, bucketised by the contract like any numeric column.

A value the field cannot hold is an error naming the line, never silently replaced by 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contract.schema import DatasetSchema, SchemaError
from training.data.chunks import Chunk, object_array
from training.data.errors import DataError
from training.data.source import SourceSpec
from training.data.textfile import open_binary

CATEGORICAL, LIST, WEIGHTED, NUMERIC = "categorical", "list", "weighted", "numeric"


@dataclass(frozen=True)
class FieldMap:
    """Feature id -> (raw column, raw value), read from ``source.field_map``."""

    path: Path
    entries: dict[str, tuple[str, str]]


def column_forms(schema: DatasetSchema) -> dict[str, str]:
    """What each raw column holds when read from libFM (fields sharing a source must agree)."""
    forms: dict[str, str] = {}
    for i, spec in enumerate(schema.fields):
        if spec.kind == "numeric":
            form = NUMERIC
        elif spec.kind == "multi_categorical":
            form = WEIGHTED if spec.weighting == "given" else LIST
        else:
            form = CATEGORICAL
        if forms.setdefault(spec.source, form) != form:
            raise SchemaError(
                f"fields[{i}].kind",
                f"fields reading the same libFM column {spec.source!r} must hold the same kind of value",
            )
    return forms


def load_field_map(schema: DatasetSchema, path: Path, forms: dict[str, str]) -> FieldMap:
    """Read a field map file; errors start with ``source.field_map`` and name the line."""
    columns = {spec.name: spec.source for spec in schema.fields} | {s: s for s in schema.sources}
    entries: dict[str, tuple[str, str]] = {}
    first_line: dict[str, int] = {}
    if not path.is_file():
        raise DataError(f"source.field_map: {path}: no such file")
    with open_binary(path) as fh:
        for number, raw_line in enumerate(fh, start=1):
            where = f"source.field_map: {path}, line {number}"
            text = _decode(raw_line, "utf-8", where).strip()
            if not text or text.startswith("#"):
                continue
            parts = text.split(None, 2)
            if len(parts) < 2:
                raise DataError(f"{where}: expected '<feature id> <field> [<raw value>]', got {text!r}")
            feature, name = parts[0], parts[1]
            column = columns.get(name)
            if column is None:
                raise DataError(f"{where}: {name!r} is not a field of the schema ({', '.join(columns)})")
            if forms[column] == NUMERIC and len(parts) == 3:
                raise DataError(f"{where}: {name!r} is numeric; its value comes from the libFM line, not the map")
            if feature in entries:
                first = first_line[feature]
                raise DataError(f"{where}: feature id {feature!r} is mapped twice (first on line {first})")
            entries[feature] = (column, parts[2] if len(parts) == 3 else feature)
            first_line[feature] = number
    if not entries:
        raise DataError(f"source.field_map: {path}: maps no feature ids")
    return FieldMap(path, entries)


def make_reader(schema: DatasetSchema, spec: SourceSpec) -> Callable[[Path, int], Iterator[Chunk]]:
    forms = column_forms(schema)
    field_map = load_field_map(schema, spec.field_map, forms) if spec.field_map is not None else None
    label = schema.label.column
    columns = list(forms)

    def read(path: Path, chunk_rows: int) -> Iterator[Chunk]:
        labels: list[str] = []
        cells: list[dict[str, Any]] = []
        lines: list[int] = []
        with open_binary(path) as fh:
            for number, raw_line in enumerate(fh, start=1):
                where = f"{path}, line {number}"
                tokens = _decode(raw_line, spec.encoding, where).split()
                if not tokens or tokens[0].startswith("#"):
                    continue
                labels.append(tokens[0])
                cells.append(_assign(tokens, forms, columns, field_map, where))
                lines.append(number)
                if len(lines) == chunk_rows:
                    yield _chunk(label, labels, columns, cells, lines, path)
                    labels, cells, lines = [], [], []
        if lines:
            yield _chunk(label, labels, columns, cells, lines, path)

    return read


def _assign(
    tokens: list[str], forms: dict[str, str], columns: list[str], field_map: FieldMap | None, where: str
) -> dict[str, Any]:
    """The raw column values of one line's ``id:value`` pairs."""
    cells: dict[str, Any] = {}
    for k, token in enumerate(tokens[1:]):
        feature, colon, text = token.partition(":")
        if not (colon and feature and text):
            raise DataError(f"{where}: expected 'id:value', got {token!r}")
        try:
            x = float(text)
        except ValueError:
            raise DataError(f"{where}: feature {feature} has value {text!r}, not a number") from None
        if not math.isfinite(x):
            raise DataError(f"{where}: feature {feature} has value {text!r}, not a finite number")
        if field_map is not None:
            entry = field_map.entries.get(feature)
            if entry is None:
                raise DataError(f"{where}: feature id {feature!r} is not in source.field_map ({field_map.path})")
            column, raw = entry
        elif k < len(columns):
            column, raw = columns[k], feature
        else:
            raise DataError(
                f"{where}: {len(tokens) - 1} features, but the schema has {len(columns)} raw columns (one feature "
                "per position); set source.field_map to assign features to fields by id"
            )
        form = forms[column]
        if form == WEIGHTED:
            weights = cells.setdefault(column, {})
            if raw in weights:
                raise DataError(f"{where}: field {column!r} has the value {raw!r} twice")
            weights[raw] = x
            continue
        if form == NUMERIC:
            value: Any = x
        elif x != 1.0:
            raise DataError(
                f"{where}: feature {feature} ({column}={raw}) has value {text}, but {form} fields take value 1; "
                f'declare {column!r} multi_categorical with weighting = "given" to keep feature values'
            )
        elif form == LIST:
            cells.setdefault(column, []).append(raw)
            continue
        else:
            value = raw
        if column in cells:
            raise DataError(
                f"{where}: field {column!r} has two features ({cells[column]!r} and {value!r}) but holds one; "
                "declare it multi_categorical to allow several"
            )
        cells[column] = value
    return cells


def _chunk(
    label: str, labels: list[str], columns: list[str], cells: list[dict[str, Any]], lines: list[int], path: Path
) -> Chunk:
    out = {column: object_array([row.get(column) for row in cells]) for column in columns}
    out[label] = object_array(labels)
    return Chunk(out, str(path), np.asarray(lines, dtype=np.int64))


def _decode(line: bytes, encoding: str, where: str) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not {encoding} text ({exc})") from None
