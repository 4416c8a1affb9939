"""HTTP endpoints. Handlers are thin: parse, encode, score, render; errors are raised, not built here."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive

from app.errors import NotReady, PayloadTooLarge
from app.explain import Explainer
from app.payload import ScoreRequest, parse_score_request
from app.rank_payload import parse_rank_request
from app.ranker import rank
from app.ranking import plan_for, top_indices
from app.scoring import Scores, ScoringModel
from app.state import ServerState

router = APIRouter()
Handler = Callable[[ServerState, bytes, str], Awaitable[bytes]]  # (state, body, request id) -> JSON body
JSON = "application/json"
_MAX_REQUEST_ID = 128

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


def state_of(request: Request) -> ServerState:
    return request.app.state.ctr


def request_id(given: str | None) -> str:
    """The client's ``x-request-id`` when it is sane, else a fresh random one (32 hex digits)."""
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return os.urandom(16).hex()  # a uuid4's randomness without building a UUID object


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is nobody to answer."""


async def receive_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without buffering it all."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def ready_model(state: ServerState) -> ScoringModel:
    if state.model is None:
        raise NotReady(f"no model loaded: {state.not_ready_reason}")
    return state.model


@router.post(
    "/v1/score",
    summary="Click probabilities for one or many records",
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": SCORE_BODY_SCHEMA}}}},
    responses={200: {"description": "one probability per record, in request order"}, **ERROR_RESPONSES},
)
async def score(request: Request) -> Response:
    return await answer(request, score_json)


async def answer(request: Request, handler: Handler) -> Response:
    """A FastAPI route's answer from a body-level handler (``app.hot_path`` calls the same handlers)."""
    state = state_of(request)
    rid = request_id(request.headers.get("x-request-id"))
    body = await receive_body(request.receive, state.settings.max_body_bytes, request.headers.get("content-length"))
    return Response(await handler(state, body, rid), media_type=JSON, headers={"x-request-id": rid})


async def score_json(state: ServerState, body: bytes, rid: str) -> bytes:
    """POST /v1/score from the raw body to the JSON answer; errors are raised (``app.errors``)."""
    model = ready_model(state)
    parsed = parse_score_request(body, model.encoder, state.settings.max_records)
    if parsed.n_rows >= state.settings.offload_rows:
        # Encoding thousands of rows is milliseconds of Python: keep the event loop free.
        batch = await run_in_threadpool(parsed.encode, model.encoder)
        rows = await model.store.gather(batch.ids)
        scores = await run_in_threadpool(model.infer, rows, batch.values)
    else:
        started = time.perf_counter()
        batch = parsed.encode(model.fast_encoder)
        state.metrics.encode_seconds.observe(time.perf_counter() - started)
        rows = await model.store.gather(batch.ids)
        if model.batcher is not None:  # CTR_MICROBATCH_MAX_ROWS: share one run with concurrent requests
            scores = await model.batcher.infer(rows, batch.values)
        else:
            scores = _timed_infer(state, model, rows, batch.values)
    state.metrics.scored_rows.inc(parsed.n_rows)
    state.metrics.rows_per_request.observe(parsed.n_rows)
    out = _score_body(model, rid, scores, parsed, batch)
    if parsed.explain:
        records = parsed.as_records() if model.encoder.hashed else None  # hashed ids need raw values for names
        out["explanations"] = await _explain(state, Explainer.for_model(model), batch.ids, rows, batch.values,
                                             scores.logits, records=records)  # fmt: skip
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


def _timed_infer(state: ServerState, model: ScoringModel, rows: np.ndarray, values: np.ndarray) -> Scores:
    started = time.perf_counter()
    scores = model.infer(rows, values)
    state.metrics.inference_seconds.observe(time.perf_counter() - started)
    return scores


def _score_body(model: ScoringModel, rid: str, scores: Scores, parsed: ScoreRequest, batch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_version": model.version,
        "request_id": rid,
        "probabilities": scores.probabilities,
    }
    if parsed.report_oov:
        out["oov_fields"] = model.encoder.oov_fields(batch)
    return out


async def _explain(state: ServerState, explainer: Explainer, *rows_and_logits: Any, **kwargs: Any) -> list[Any]:
    """Explanations cost tens of µs per row (reports/rank_compute.json): many rows go off the event loop."""
    if len(rows_and_logits[0]) >= state.settings.explain_offload_rows:
        return await run_in_threadpool(explainer.explain, *rows_and_logits, **kwargs)
    return explainer.explain(*rows_and_logits, **kwargs)


@router.post(
    "/v1/rank",
    summary="Click probabilities of many candidates for one context, computing the context once",
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": RANK_BODY_SCHEMA}}}},
    responses={200: {"description": "one probability per candidate, in request order"}, **ERROR_RESPONSES},
)
async def rank_candidates(request: Request) -> Response:
    return await answer(request, rank_json)


async def rank_json(state: ServerState, body: bytes, rid: str) -> bytes:
    """POST /v1/rank from the raw body to the JSON answer; errors are raised (``app.errors``)."""
    model = ready_model(state)
    plan = plan_for(model, state.settings.rank_cache_size)
    parsed = parse_rank_request(body, plan, state.settings.max_candidates)
    started = time.perf_counter()
    ranked = await rank(model, plan, parsed, state.settings.rank_offload_candidates, keep_encoded=parsed.explain)
    state.metrics.rank_seconds.observe(time.perf_counter() - started)
    if plan.cache.capacity:
        state.metrics.rank_cache.labels("hit").inc(ranked.cache_hits)
        state.metrics.rank_cache.labels("miss").inc(parsed.n_candidates - ranked.cache_hits)
    state.metrics.scored_rows.inc(parsed.n_candidates)
    state.metrics.rows_per_request.observe(parsed.n_candidates)
    out: dict[str, Any] = {"model_version": model.version, "request_id": rid, "probabilities": ranked.probabilities}
    chosen = None
    if parsed.top_k is not None:
        chosen = top_indices(ranked.logits, parsed.top_k)
        out["top_indices"] = chosen
    if parsed.explain:
        # with top_k only the returned candidates are explained: the ones a client will show
        keep = np.arange(parsed.n_candidates) if chosen is None else chosen
        ids = plan.merge(ranked.context_ids, ranked.candidate_ids[keep])
        values = plan.merge(ranked.context_values, ranked.candidate_values[keep])
        rows = await model.store.gather(ids)
        records = None
        if model.encoder.hashed:  # hashed ids need the raw values to name features
            records = [{**parsed.context, **parsed.candidates[i]} for i in keep.tolist()]
        out["explanations"] = await _explain(state, Explainer.for_model(model), ids, rows, values,
                                             ranked.logits[keep], indices=keep, records=records)  # fmt: skip
    return orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)


@router.get("/v1/model", summary="The active model: version, field schema, limits and offline metrics")
async def model_info(request: Request) -> Response:
    state = state_of(request)
    model = ready_model(state)
    manifest = model.manifest
    fields = [
        {
            "name": f.spec.name,
            "request_key": f.spec.source,
            "kind": f.spec.kind,
            "dtype": f.spec.dtype if f.spec.kind != "numeric" else "number",
            "side": f.spec.side,
            "required": f.spec.required,
            **(
                {"max_length": f.spec.max_length, "weighting": f.spec.weighting}
                if f.spec.kind == "multi_categorical"
                else {}
            ),
            "features": f.size,
        }
        for f in model.encoder.fields
    ]
    body = {
        "name": model.name,
        "version": model.version,
        "created_at": manifest.get("created_at"),
        "dataset": manifest.get("dataset", {}).get("name"),
        "split": manifest.get("split"),
        "metrics": manifest.get("metrics"),
        "embedding_dim": model.embedding_dim,
        "fields": fields,
        "limits": {
            "max_records": state.settings.max_records,
            "max_candidates": state.settings.max_candidates,
            "max_body_bytes": state.settings.max_body_bytes,
        },
    }
    return Response(orjson.dumps(body), media_type=JSON)


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


@router.get("/readyz", summary="Readiness: a model is loaded and warmed up")
async def readyz(request: Request) -> Response:
    state = state_of(request)
    model = ready_model(state)
    return Response(orjson.dumps({"status": "ready", "model_version": model.version}), media_type=JSON)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
