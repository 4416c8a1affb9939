"""What the OpenAPI schema (``/openapi.json``, ``/docs``) says: bodies, answers and examples of the loaded model.

The request bodies name the loaded model's fields (their JSON types, which are required, which side
of a ranking request they belong to) and the examples are built from its schema and vocabulary, so
a server of any dataset documents a body it accepts. The schema is rebuilt when the served version
changes; before a model is loaded it describes the envelope only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.state import ServerState
from contract.catalog import Catalog
from contract.encoding import FeatureEncoder
from contract.field import FieldEncoder

JSON = "application/json"

_ERROR_BODY = {
    "type": "object",
    "required": ["error", "detail", "field"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. invalid_request"},
        "detail": {"type": "string", "description": "what is wrong, for a person"},
        "field": {"type": ["string", "null"], "description": "the request key at fault, or null"},
    },
}


def error_doc(description: str, code: str, field: str | None = None) -> dict[str, Any]:
    """An error answer of the OpenAPI schema: the one error body, with an example."""
    example = {"error": code, "detail": "...", "field": field}
    return {"description": description, "content": {JSON: {"schema": _ERROR_BODY, "example": example}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_doc("the body is not JSON", "malformed_json"),
    413: error_doc("the body is larger than CTR_MAX_BODY_BYTES", "payload_too_large"),
    422: error_doc(
        "invalid request: wrong shape or type, unknown or missing field, over CTR_MAX_RECORDS / CTR_MAX_CANDIDATES",
        "invalid_request",
        "user_id",
    ),
    503: error_doc("no model is loaded (yet), or the embedding store is unavailable", "not_ready"),
}
NOT_READY = {503: ERROR_RESPONSES[503]}
FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: ERROR_RESPONSES[code] for code in (400, 413, 422)},
    404: error_doc("feedback is not collected on this server (CTR_IMPRESSION_LOG=off)", "not_found"),
    503: error_doc("the log's queue is full: retry shortly", "not_ready"),
}
FEEDBACK_RESPONSE = {
    "type": "object",
    "required": ["accepted", "request_id"],
    "properties": {"accepted": {"type": "integer"}, "request_id": {"type": "string"}},
}
INT64 = 2**63 - 1  # a JSON integer past 64 bits reaches the server as a float (orjson), which is refused
REQUEST_ID = "^[\\x20-\\x7e\\xa1-\\xac\\xae-\\xff]+$"  # what app.http.body.request_id issues: printable latin-1
_EVENT = {
    "type": "object",
    "required": ["request_id", "row", "clicked"],
    "additionalProperties": False,
    "properties": {
        "request_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": REQUEST_ID,
            "description": "of the scored request",
        },
        "row": {"type": "integer", "minimum": 0, "maximum": INT64, "description": "the row's index in that request"},
        "clicked": {"type": "boolean"},
        "ts": {"type": "number", "exclusiveMinimum": 0, "description": "epoch seconds; default: when it arrives"},
    },
}
FEEDBACK_BODY = {
    "oneOf": [
        _EVENT,
        {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {"events": {"type": "array", "items": _EVENT, "minItems": 1}},
        },
    ],
    "example": {"request_id": "7dd838ed0c991fbb9782bbead85b07c2", "row": 0, "clicked": True},
}

_EXPLANATION = {
    "type": "object",
    "description": "the logit as exact parts: bias + per-field linear parts + field-pair interactions",
    "properties": {
        "index": {"type": "integer"},
        "logit": {"type": "number"},
        "probability": {"type": "number"},
        "bias": {"type": "number"},
        "linear": {"type": "object", "additionalProperties": {"type": "number"}},
        "pairs": {"type": "array", "items": {"type": "object"}},
        "top_pairs": {"type": "array", "items": {"type": "object"}},
    },
}
_SCORED = {
    "model_version": {"type": "string", "description": "the version that scored every row of this answer"},
    "request_id": {"type": "string", "description": "x-request-id, or a fresh one"},
    "probabilities": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
    "explanations": {"type": "array", "items": _EXPLANATION, "description": "with explain = true"},
}
SCORE_RESPONSE = {
    "type": "object",
    "required": ["model_version", "request_id", "probabilities"],
    "properties": {
        **_SCORED,
        "oov_fields": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
            "description": "with report_oov = true: per row, the fields scored as unseen",
        },
    },
}
RANK_RESPONSE = {
    "type": "object",
    "required": ["model_version", "request_id", "probabilities"],
    "properties": {
        **_SCORED,
        "probabilities": {
            "type": "array",
            "items": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "description": "one per candidate in request order (ids first); null for an unknown id skipped",
        },
        "unknown_indices": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "with candidate_ids: positions of the ids the model version's catalog does not hold",
        },
        "top_indices": {"type": "array", "items": {"type": "integer"}, "description": "with top_k: best first"},
    },
}
MODEL_RESPONSE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "created_at": {"type": ["string", "null"]},
        "fields": {"type": "array", "items": {"type": "object"}},
        "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
        "metrics": {"type": ["object", "null"]},
    },
}
STATUS_RESPONSE = {"type": "object", "properties": {"status": {"type": "string"}}}
READY_RESPONSE = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ready"]}, "model_version": {"type": "string"}},
}


def ok(description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {JSON: {"schema": schema}}}}


def score_body(encoder: FeatureEncoder | None, max_records: int) -> dict[str, Any]:
    """The /v1/score body: ``records`` or ``columns`` (exactly one) of the model's fields."""
    fields = encoder.fields if encoder else ()
    record = _record_schema(fields, only_side=None)
    columns: dict[str, Any] = {
        "type": "object",
        "minProperties": 1,
        "description": "the same rows column-wise: {field: [value per row]}, equal lengths",
    }
    if fields:  # one list per request key, of that field's values; unknown keys are refused like in records
        one = {"type": "array", "minItems": 1, "maxItems": max_records}
        columns |= {"properties": {f.spec.source: {**one, "items": _value_schema(f)} for f in fields},
                    "required": record["required"], "additionalProperties": False}  # fmt: skip
    else:
        columns["additionalProperties"] = {"type": "array"}
    schema: dict[str, Any] = {
        "type": "object",
        "description": "give records or columns; GET /v1/model lists the fields",
        "oneOf": [{"required": ["records"]}, {"required": ["columns"]}],
        "additionalProperties": False,
        "properties": {
            "records": {"type": "array", "items": record, "minItems": 1, "maxItems": max_records},
            "columns": columns,
            "report_oov": {"type": "boolean", "default": False, "description": "list fields scored as unseen"},
            "explain": {"type": "boolean", "default": False, "description": "add each score's exact parts"},
        },
    }
    if encoder is not None:
        schema["example"] = {"records": [_example(encoder.fields, None)]}
    return schema


def rank_body(encoder: FeatureEncoder | None, max_candidates: int, catalog: Catalog | None = None) -> dict[str, Any]:
    """The /v1/rank body: one context and its candidates, as objects of their side's fields and/or catalog ids."""
    fields = encoder.fields if encoder else ()
    context = _record_schema(fields, only_side="context")
    id_field = next((f for f in fields if catalog is not None and f.spec.source == catalog.source), None)
    schema: dict[str, Any] = {
        "type": "object",
        "description": "candidates as objects (`candidates`), as ids of the model version's candidate catalog "
        "(`candidate_ids`), or both: the ids are candidates 0..n_ids-1, the objects follow; at least one and at "
        f"most {max_candidates} (CTR_MAX_CANDIDATES) in all. docs/ranking.md",
        "anyOf": [{"required": [key], "properties": {key: {"minItems": 1}}} for key in ("candidates", "candidate_ids")],
        "additionalProperties": False,
        "required": ["context"] if context.get("required") else [],
        "properties": {
            "context": context,
            "candidates": {
                "type": "array",
                "items": _record_schema(fields, only_side="candidate"),
                "maxItems": max_candidates,
            },
            "candidate_ids": {
                "type": "array",
                "items": _scalar(id_field.spec) if id_field else {"type": ["string", "integer"]},
                "maxItems": max_candidates,
                "description": "values of the schema's candidate_id field"
                + (f" ({catalog.source}; {len(catalog):,} items in this version's catalog)" if catalog else "")
                + ": scored from precomputed terms, equal to /v1/score on the merged record within 1e-6",
            },
            "unknown_ids": {
                "type": "string",
                "enum": ["score", "skip"],
                "default": "score",
                "description": "an id the catalog does not hold: `score` it as the candidate {id field: id} (every "
                "other candidate field unseen) or `skip` it (probability null, never in top_indices); either way "
                "the answer lists it in unknown_indices",
            },
            "top_k": {"type": "integer", "minimum": 1, "maximum": INT64, "description": "return the best k's indices"},
            "explain": {"type": "boolean", "default": False, "description": "add each score's exact parts"},
        },
    }
    if encoder is not None:
        schema["example"] = {"context": _example(fields, "context"), "candidates": [_example(fields, "candidate")],
                             "top_k": 1}  # fmt: skip
        if catalog is not None and len(catalog):
            schema["example"]["candidate_ids"] = [catalog.key(row) for row in range(min(2, len(catalog)))]
    return schema


def _record_schema(fields: tuple[FieldEncoder, ...], only_side: str | None) -> dict[str, Any]:
    chosen = [f for f in fields if only_side is None or f.spec.side == only_side]
    if not chosen:
        return {"type": "object", "description": "fields keyed by their request key (GET /v1/model)"}
    return {
        "type": "object",
        "properties": {f.spec.source: _value_schema(f) for f in chosen},
        "required": sorted({f.spec.source for f in chosen if f.spec.required}),
        "additionalProperties": False,
    }


# What ValueParser.canonical takes for an int id given as a string: ASCII digits, a sign, blanks around.
INT_TEXT = r"^[ \t\n\r]*-?[0-9]+[ \t\n\r]*$"
NUMBER_TEXT = r"^[ \t\n\r]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?[ \t\n\r]*$"


def _scalar(spec: Any) -> dict[str, Any]:
    """One categorical value: a string or an integer; an ``int`` field's strings are integers too."""
    if spec.dtype == "int":
        return {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": INT_TEXT}]}
    return {"type": ["string", "integer"], "minLength": 1}  # "" is a missing value


def _value_schema(field: FieldEncoder) -> dict[str, Any]:
    spec = field.spec
    if spec.kind == "numeric":
        return {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "pattern": NUMBER_TEXT}],
                "description": "a number; bucketised by the model"}  # fmt: skip
    if spec.kind == "multi_categorical":
        if spec.weighting == "given":
            return {"type": ["object", "array", "string", "null"], "description": "{value: weight, ...}"}
        separated = f", or one string split on {spec.separator!r}" if spec.separator else ""
        return {"type": ["array", "string", "null"] if spec.separator else ["array", "null"], "items": _scalar(spec),
                "maxItems": spec.max_length, "description": f"a list of values{separated}"}  # fmt: skip
    if spec.required:
        return {**_scalar(spec), "description": "required"}
    return {"anyOf": [_scalar(spec), {"type": "null"}], "description": "missing or null: scored as unseen"}


def _example(fields: tuple[FieldEncoder, ...], side: str | None) -> dict[str, Any]:
    """A record the model accepts: known values from its vocabulary, numbers inside its buckets."""
    out: dict[str, Any] = {}
    for f in fields:
        if side is not None and f.spec.side != side:
            continue
        spec, known = f.spec, f.vocabulary[:2] or ["a", "b"]  # a hashed encoder (Redis) has no vocabulary
        if spec.kind == "numeric":
            out[spec.source] = float(f.boundaries[len(f.boundaries) // 2]) if len(f.boundaries) else 1.0
        elif spec.kind == "multi_categorical":
            out[spec.source] = {known[0]: 1.0} if spec.weighting == "given" else known[: spec.max_length]
        else:
            out[spec.source] = int(known[0]) if spec.dtype == "int" and known[0].lstrip("-").isdigit() else known[0]
    return out


def install_openapi(app: FastAPI, state: ServerState, finish: Callable[[dict[str, Any]], None] | None = None) -> None:
    """``app.openapi()`` documents the served model's bodies; rebuilt when the served version changes.

    ``finish`` edits each schema once built (authentication adds its security schemes and answers).
    """
    built: dict[str | None, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        model = state.model
        # a catalog swap (same version) changes the id example and size: key on the generation too
        version = f"{model.version}/{model.catalog.generation if model.catalog else ''}" if model is not None else None
        if version not in built:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            encoder = model.encoder if model is not None else None
            bodies = {
                "/v1/score": score_body(encoder, state.settings.max_records),
                "/v1/rank": rank_body(encoder, state.settings.max_candidates, model.catalog if model else None),
            }
            bodies["/v1/feedback"] = FEEDBACK_BODY
            for path, body in bodies.items():
                operation = schema["paths"][path]["post"]
                operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
            if finish is not None:
                finish(schema)
            built.clear()  # one version at a time: the old one's schema is never served again
            built[version] = schema
        return built[version]

    app.openapi = openapi  # type: ignore[method-assign]
