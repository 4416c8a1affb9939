"""The FastAPI routes. Thin: the scoring endpoints call ``app.http.handlers``; the rest answer here."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.http.body import receive_body, request_id
from app.http.handlers import Handler, rank_json, ready_model, score_json
from app.http.openapi import ERROR_RESPONSES, JSON, RANK_BODY_SCHEMA, SCORE_BODY_SCHEMA
from app.state import ServerState

router = APIRouter()


def state_of(request: Request) -> ServerState:
    return request.app.state.ctr


@router.post(
    "/v1/score",
    summary="Click probabilities for one or many records",
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": SCORE_BODY_SCHEMA}}}},
    responses={200: {"description": "one probability per record, in request order"}, **ERROR_RESPONSES},
)
async def score(request: Request) -> Response:
    return await answer(request, score_json)


async def answer(request: Request, handler: Handler) -> Response:
    """A FastAPI route's answer from a body-level handler (``app.http.front`` calls the same handlers)."""
    state = state_of(request)
    rid = request_id(request.headers.get("x-request-id"))
    body = await receive_body(request.receive, state.settings.max_body_bytes, request.headers.get("content-length"))
    return Response(await handler(state, body, rid), media_type=JSON, headers={"x-request-id": rid})


@router.post(
    "/v1/rank",
    summary="Click probabilities of many candidates for one context, computing the context once",
    openapi_extra={"requestBody": {"required": True, "content": {JSON: {"schema": RANK_BODY_SCHEMA}}}},
    responses={200: {"description": "one probability per candidate, in request order"}, **ERROR_RESPONSES},
)
async def rank_candidates(request: Request) -> Response:
    return await answer(request, rank_json)


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
