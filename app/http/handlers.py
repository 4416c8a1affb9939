"""The endpoints' work, from the raw body to the JSON answer: parse, encode, gather, score, render.

Both ways in call these: the FastAPI routes (``app.http.routes``) and the pure-ASGI front
(``app.http.front``). Errors are raised (``app.errors``), never rendered here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool

from app.errors import NotReady
from app.ranking.plan import plan_for, top_indices
from app.ranking.rank import rank
from app.ranking.request import parse_rank_request
from app.scoring.explain import Explainer
from app.scoring.model import Scores, ScoringModel
from app.scoring.request import ScoreRequest, parse_score_request
from app.state import ServerState

Handler = Callable[[ServerState, bytes, str], Awaitable[bytes]]  # (state, body, request id) -> JSON body


def ready_model(state: ServerState) -> ScoringModel:
    if state.model is None:
        raise NotReady(f"no model loaded: {state.not_ready_reason}")
    return state.model


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
