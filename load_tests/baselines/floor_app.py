"""The floor: what any scorer of our request body must pay before it encodes or scores anything.

NOT PART OF THE PRODUCT: a baseline for ``load_tests/bench.py`` (decision #22). A bare FastAPI app
run under the very same uvicorn flags as ours, whose ``POST /v1/score``

* reads the body with the same byte limit (``app.http.routes.receive_body``),
* parses and validates the envelope with the same function (``app.scoring.request.parse_score_request``:
  orjson, keys, ``records``/``columns`` shape, row limits, unknown column names),
* validates every value the way our encoder does, with the encoder's own per-value checks
  (``FieldEncoder.canonical``/``number``/``items``, required fields, unknown record keys), so a bad
  body gets the same 422 as from our server — but builds no id/value arrays, looks nothing up,
  runs no model,
* and answers a constant JSON body.

Ours divided by this is the share of the floor our encoding + lookup + model + metrics leave. The
encoder comes from ``CTR_MODEL_DIR`` (an artifact; its vocabularies are loaded but not used here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from app.errors import ApiError, InvalidRequest
from app.http.body import receive_body
from app.http.responses import error_response
from app.scoring.request import parse_score_request
from app.settings import Settings
from contract.artifact import load_artifact
from contract.encoding import FeatureEncoder
from contract.values import EncodingError, json_type

CONSTANT = b'{"model":"floor","probabilities":[0.5]}'


def validate_values(encoder: FeatureEncoder, columns: dict[str, Sequence[Any]], n_rows: int) -> None:
    """Every check ``encoder.encode_columns`` makes, in its order, without encoding (raises EncodingError)."""
    for field in encoder.fields:
        spec = field.spec
        column = columns.get(spec.source)
        if column is None:
            if spec.required and n_rows:
                raise EncodingError(spec.source, "required field is missing", 0)
            continue
        if len(column) != n_rows:
            raise EncodingError(spec.source, f"has {len(column)} values, expected {n_rows}")
        if spec.kind == "multi_categorical":
            for r, raw in enumerate(column):
                if field.items(raw, r) is None and spec.required:
                    raise EncodingError(spec.source, "required field is missing", r)
            continue
        check = field.number if spec.kind == "numeric" else field.canonical
        missing = [r for r, value in enumerate(column) if check(value, r) is None]
        if missing and spec.required:
            raise EncodingError(spec.source, "required field is missing", missing[0])


def validate_records(encoder: FeatureEncoder, records: Sequence[Any]) -> None:
    """``encoder.encode_records``'s checks: objects, known keys, then every value."""
    known = frozenset(encoder.sources)
    for r, record in enumerate(records):
        if not isinstance(record, dict):
            raise EncodingError(None, f"record {r} must be a JSON object, got {json_type(record)}", r)
        for key in record:
            if key not in known:
                raise EncodingError(key, "unknown field", r)
    validate_values(encoder, {s: [rec.get(s) for rec in records] for s in encoder.sources}, len(records))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    encoder = load_artifact(settings.model_dir, settings.model_version).encoder
    app = FastAPI(title="floor baseline (not the product)")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.detail, exc.field)

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        body = await receive_body(request.receive, settings.max_body_bytes, request.headers.get("content-length"))
        parsed = parse_score_request(body, encoder, settings.max_records)
        try:
            if parsed.records is not None:
                validate_records(encoder, parsed.records)
            else:
                assert parsed.columns is not None
                validate_values(encoder, parsed.columns, parsed.n_rows)
        except EncodingError as exc:
            raise InvalidRequest.from_encoding(exc, "records" if parsed.records is not None else None) from None
        return Response(CONSTANT, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(b'{"ready":true}', media_type="application/json")

    return app
