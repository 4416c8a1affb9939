"""Request bodies: parsed with orjson and validated by hand, because this is the hot path.

A score request carries either ``records`` (a list of objects keyed by raw field) or ``columns``
(an object of equal-length lists, cheaper to parse for big batches)::

    {"records": [{"user_id": 196, "item_id": 242, "genres": ["Comedy"]}], "report_oov": false, "explain": false}
    {"columns": {"user_id": [196, 22], "item_id": [242, 377]}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import InvalidRequest, MalformedBody
from contract.encoding import EncodedBatch
from contract.memo import Encoder
from contract.values import EncodingError

SCORE_KEYS = frozenset({"records", "columns", "report_oov", "explain"})


@dataclass(frozen=True)
class ScoreRequest:
    records: list[Any] | None
    columns: dict[str, list[Any]] | None
    n_rows: int
    report_oov: bool
    explain: bool = False

    def as_records(self) -> list[Any]:
        """The rows as objects (built from ``columns`` if need be), e.g. to name features in explanations."""
        if self.records is not None:
            return self.records
        assert self.columns is not None
        return [dict(zip(self.columns, row, strict=True)) for row in zip(*self.columns.values(), strict=True)]

    def encode(self, encoder: Encoder) -> EncodedBatch:
        try:
            if self.records is not None:
                return encoder.encode_records(self.records)
            assert self.columns is not None
            return encoder.encode_columns(self.columns, self.n_rows)
        except EncodingError as exc:
            raise InvalidRequest.from_encoding(exc, "records" if self.records is not None else None) from None


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"request body is not valid JSON: {exc}") from None


def whole(value: Any) -> Any:
    """An integral float as the int it is (JSON Schema's integers include ``2.0``); anything else unchanged."""
    if type(value) is float and value.is_integer() and abs(value) < 2.0**53:  # exactly an int
        return int(value)
    return value


def load_object(body: bytes, keys: frozenset[str], expected: str) -> dict[str, Any]:
    """The body as a JSON object whose keys are all in ``keys`` (``expected`` lists them for the error)."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    for key in data:
        if key not in keys:
            raise InvalidRequest(f"unknown key {key!r} (expected {expected})", key)
    return data


def parse_score_request(body: bytes, encoder: Encoder, max_records: int) -> ScoreRequest:
    data = load_object(body, SCORE_KEYS, "records or columns, report_oov, explain")
    report_oov = data.get("report_oov", False)
    if not isinstance(report_oov, bool):
        raise InvalidRequest("must be true or false", "report_oov")
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidRequest("must be true or false", "explain")
    records, columns = data.get("records"), data.get("columns")
    if (records is None) == (columns is None):
        raise InvalidRequest("give exactly one of 'records' or 'columns'", "records")
    if records is not None:
        if not isinstance(records, list):
            raise InvalidRequest("must be a list of objects", "records")
        n_rows = len(records)
        _check_rows(n_rows, max_records, "records")
        return ScoreRequest(records, None, n_rows, report_oov, explain)
    if not isinstance(columns, dict) or not columns:
        raise InvalidRequest("must be a non-empty object of equal-length lists", "columns")
    n_rows = -1
    for name, column in columns.items():
        if name not in encoder.sources:
            raise InvalidRequest("unknown field", name)
        if not isinstance(column, list):
            raise InvalidRequest("column must be a list", name)
        if n_rows == -1:
            n_rows = len(column)
        elif len(column) != n_rows:
            raise InvalidRequest(f"has {len(column)} values, other columns have {n_rows}", name)
    _check_rows(n_rows, max_records, "columns")
    return ScoreRequest(None, columns, n_rows, report_oov, explain)


def _check_rows(n_rows: int, max_records: int, field: str) -> None:
    if n_rows == 0:
        raise InvalidRequest("must not be empty", field)
    if n_rows > max_records:
        raise InvalidRequest(f"has {n_rows} records, more than the limit of {max_records} (CTR_MAX_RECORDS)", field)
