"""What the OpenAPI schema (``/docs``) says about the request bodies and error answers."""

from __future__ import annotations

from typing import Any

JSON = "application/json"

SCORE_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "records": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
            "description": "rows keyed by raw field name; see GET /v1/model for the fields",
        },
        "columns": {
            "type": "object",
            "additionalProperties": {"type": "array"},
            "description": "the same rows column-wise: {field: [value per row]}",
        },
        "report_oov": {"type": "boolean", "default": False, "description": "list fields scored as unseen"},
        "explain": {"type": "boolean", "default": False, "description": "add each score's exact parts"},
    },
    "example": {"records": [{"user_id": 196, "item_id": 242, "age": 49, "gender": "M", "genres": ["Comedy"]}]},
}
RANK_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["candidates"],
    "properties": {
        "context": {"type": "object", "description": "the context-side fields (GET /v1/model: side = context)"},
        "candidates": {
            "type": "array",
            "items": {"type": "object"},
            "description": "candidate-side fields, one object per candidate (at most CTR_MAX_CANDIDATES)",
        },
        "top_k": {"type": "integer", "minimum": 1, "description": "also return the indices of the best k"},
        "explain": {"type": "boolean", "default": False, "description": "add each score's exact parts"},
    },
    "example": {
        "context": {"user_id": 196, "age": 49, "gender": "M", "occupation": "writer", "zip_code": "55105"},
        "candidates": [{"item_id": 242, "release_year": 1997, "genres": ["Comedy"]}, {"item_id": 51}],
        "top_k": 1,
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {JSON: {"example": {"error": err, "detail": "...", "field": "age"}}}}
    for code, text, err in (
        (400, "malformed JSON", "malformed_json"),
        (413, "body too large", "payload_too_large"),
        (422, "invalid request (the field is named)", "invalid_request"),
        (503, "no model loaded yet", "not_ready"),
    )
}
