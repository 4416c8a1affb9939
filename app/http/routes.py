"""The FastAPI routes. Thin: the scoring endpoints call ``app.http.handlers``; the rest answer here."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from app.http.body import AFTER_RESPONSE, AfterResponse, receive_body, request_id, run_after_response
from app.http.handlers import Handler, feedback_json, rank_json, ready_model, score_json
from app.http.openapi import (
    ERROR_RESPONSES,
    FEEDBACK_ERRORS,
    FEEDBACK_RESPONSE,
    JSON,
    MODEL_RESPONSE,
    NOT_READY,
    RANK_RESPONSE,
    READY_RESPONSE,
    SCORE_RESPONSE,
    STATUS_RESPONSE,
    ok,
)  # fmt: skip
from app.state import ServerState

router = APIRouter()


def state_of(request: Request) -> ServerState:
    return request.app.state.ctr


@router.post(
    "/v1/score",
    summary="Click probabilities for one or many records",
    responses={**ok("one probability per record, in request order", SCORE_RESPONSE), **ERROR_RESPONSES},
)
async def score(request: Request) -> Response:
    return await answer(request, score_json)


async def answer(request: Request, handler: Handler) -> Response:
    """A FastAPI route's answer from a body-level handler (``app.http.front`` calls the same handlers)."""
    state = state_of(request)
    rid = request_id(request.headers.get("x-request-id"))
    pending: list[AfterResponse] = []
    AFTER_RESPONSE.set(pending)
    body = await receive_body(request.receive, state.settings.max_body_bytes, request.headers.get("content-length"))
    answer = await handler(state, body, rid)
    background = BackgroundTask(run_after_response, pending) if pending else None
    return Response(answer, media_type=JSON, headers={"x-request-id": rid}, background=background)


@router.post(
    "/v1/rank",
    summary="Click probabilities of many candidates for one context, computing the context once",
    responses={**ok("one probability per candidate, in request order", RANK_RESPONSE), **ERROR_RESPONSES},
)
async def rank_candidates(request: Request) -> Response:
    return await answer(request, rank_json)


@router.post(
    "/v1/feedback",
    summary="Clicks (or their absence) for scored rows: one event or a batch",
    responses={**ok("the events were queued for the log", FEEDBACK_RESPONSE), **FEEDBACK_ERRORS},
)
async def feedback(request: Request) -> Response:
    return await answer(request, feedback_json)


@router.get(
    "/v1/model",
    summary="The active model: version, field schema, limits and offline metrics",
    responses={**ok("the model that answers now", MODEL_RESPONSE), **NOT_READY},
)
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


@router.get("/healthz", summary="Liveness: the process answers", responses=ok("alive", STATUS_RESPONSE))
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


@router.get(
    "/readyz",
    summary="Readiness: a model is loaded and warmed up",
    responses={**ok("ready, with the version that answers", READY_RESPONSE), **NOT_READY},
)
async def readyz(request: Request) -> Response:
    state = state_of(request)
    model = ready_model(state)
    return Response(orjson.dumps({"status": "ready", "model_version": model.version}), media_type=JSON)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={200: {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
