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
    "description": "One context and its candidates: whole objects (`candidates`), ids of the model version's "
    "candidate catalog (`candidate_ids`), or both (ids are candidates 0..n_ids-1, objects follow). Together at most "
    "CTR_MAX_CANDIDATES. See docs/ranking.md.",
    "anyOf": [{"required": ["candidates"]}, {"required": ["candidate_ids"]}],
    "properties": {
        "context": {"type": "object", "description": "the context-side fields (GET /v1/model: side = context)"},
        "candidates": {
            "type": "array",
            "items": {"type": "object"},
            "description": "candidate-side fields, one object per candidate",
        },
        "candidate_ids": {
            "type": "array",
            "items": {"type": ["string", "integer"]},
            "description": "ids (values of the schema's candidate_id field) of catalog items: scored from the "
            "catalog's precomputed terms, equal to /v1/score on the merged record within 1e-6",
        },
        "unknown_ids": {
            "type": "string",
            "enum": ["score", "skip"],
            "default": "score",
            "description": "an id the catalog does not hold: `score` it as the candidate {id field: id} (every "
            "other candidate field unseen), or `skip` it (probability null, never in top_indices); either way "
            "the answer lists it in unknown_indices",
        },
        "top_k": {"type": "integer", "minimum": 1, "description": "also return the indices of the best k"},
        "explain": {"type": "boolean", "default": False, "description": "add each score's exact parts"},
    },
    "example": {
        "context": {"user_id": 196, "age": 49, "gender": "M", "occupation": "writer", "zip_code": "55105"},
        "candidate_ids": [242, 51, 1999],
        "candidates": [{"item_id": 3000, "release_year": 1997, "genres": ["Comedy"]}],
        "top_k": 2,
    },
}
RANK_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model_version": {"type": "string"},
        "request_id": {"type": "string"},
        "probabilities": {
            "type": "array",
            "items": {"type": ["number", "null"]},
            "description": "one per candidate in request order (ids first); null for a skipped unknown id",
        },
        "unknown_indices": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "with candidate_ids: positions of the ids the catalog does not hold",
        },
        "top_indices": {"type": "array", "items": {"type": "integer"}, "description": "with top_k: best first"},
        "explanations": {"type": "array", "items": {"type": "object"}, "description": "with explain"},
    },
    "example": {
        "model_version": "20261203T140128Z-9f9b76",
        "request_id": "0579eb97",
        "unknown_indices": [2],
        "probabilities": [0.6572, 0.3920, 0.4511, 0.5820],
        "top_indices": [0, 3],
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
