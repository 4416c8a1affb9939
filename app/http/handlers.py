"""The endpoints' work, from the raw body to the JSON answer: parse, encode, gather, score, render.

Both ways in call these: the FastAPI routes (``app.http.routes``) and the pure-ASGI front
(``app.http.front``). Errors are raised (``app.errors``), never rendered here.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool

from app.errors import NotFound, NotReady
from app.feedback.events import parse_feedback
from app.feedback.log import Feedback, Impressions
from app.http.body import after_response
from app.metrics import Metrics
from app.ranking.plan import plan_for, top_indices
from app.ranking.rank import Ranked, rank
from app.ranking.request import RankRequest, parse_rank_request
from app.scoring.explain import Explainer
from app.scoring.model import Scores, ScoringModel
from app.scoring.request import ScoreRequest, parse_score_request
from app.state import ServerState
from contract.logs import MODEL_VERSION

log = logging.getLogger("app")
Handler = Callable[[ServerState, bytes, str], Awaitable[bytes]]  # (state, body, request id) -> JSON body


def ready_model(state: ServerState) -> ScoringModel:
    """The model that answers this request (the same object to its end, even across a swap)."""
    model = state.model
    if model is None:
        raise NotReady(f"no model loaded: {state.not_ready_reason}")
    MODEL_VERSION.set(model.version)  # the request's log lines name the version that scored it
    return model


async def score_json(state: ServerState, body: bytes, rid: str) -> bytes:
    """POST /v1/score from the raw body to the JSON answer; errors are raised (``app.errors``).

    Every request, offloaded or not, is timed in the five stages of ``ctr_stage_duration_seconds``
    (recorded here, on the event loop, after the work: the cheap histograms are not thread-safe).
    """
    model = ready_model(state)
    metrics = state.metrics
    t_start = time.perf_counter()
    parsed = parse_score_request(body, model.encoder, state.settings.max_records)
    t_parsed = time.perf_counter()
    offload = parsed.n_rows >= state.settings.offload_rows
    if offload:  # encoding thousands of rows is milliseconds of Python: keep the event loop free
        batch = await run_in_threadpool(parsed.encode, model.encoder)
    else:
        batch = parsed.encode(model.fast_encoder)
    t_encoded = time.perf_counter()
    rows = await model.store.gather(batch.ids)
    t_gathered = time.perf_counter()
    if offload:
        scores = await run_in_threadpool(model.infer, rows, batch.values)
    elif model.batcher is not None:  # CTR_MICROBATCH_MAX_ROWS: share one run with concurrent requests
        scores = await model.batcher.infer(rows, batch.values)
    else:
        scores = model.infer(rows, batch.values)
    t_scored = time.perf_counter()
    out = _score_body(model, rid, scores, parsed, batch)
    if parsed.explain:
        records = parsed.as_records() if model.encoder.hashed else None  # hashed ids need raw values for names
        out["explanations"] = await _explain(state, Explainer.for_model(model), batch.ids, rows, batch.values,
                                             scores.logits, records=records)  # fmt: skip
    answer = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
    t_done = time.perf_counter()
    parse, encode, lookup, inference, serialise = metrics.score_stages
    parse.observe(t_parsed - t_start)
    encode.observe(t_encoded - t_parsed)
    lookup.observe(t_gathered - t_encoded)
    inference.observe(t_scored - t_gathered)
    serialise.observe(t_done - t_scored)  # includes explanations when asked for
    metrics.scored_rows.labels("/v1/score").inc(parsed.n_rows)
    if log.isEnabledFor(logging.DEBUG):  # CTR_LOG_LEVEL=debug: one line per request (a cached check otherwise)
        log.debug("scored %d rows", parsed.n_rows, extra={"endpoint": "/v1/score"})
    metrics.rows_per_request.observe(parsed.n_rows)
    if state.settings.served_metrics:
        metrics.record_served(model.version, scores.logits, scores.probabilities)
        metrics.record_oov(metrics.oov_children(model.field_names), model.encoder.oov_counts(batch))
    shadow = state.shadow
    if shadow is not None and random.random() < state.settings.shadow_fraction:
        impressions = Impressions(rid, time.time(), model.version, parsed.records, parsed.columns,
                                  scores.probabilities)  # fmt: skip
        after_response(functools.partial(_score_shadow, state, shadow, parsed, impressions))
    elif state.events is not None:  # one queue append: the writer thread does the rest
        state.events.log_impressions(
            Impressions(rid, time.time(), model.version, parsed.records, parsed.columns, scores.probabilities)
        )
    return answer


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
    metrics = state.metrics
    t_start = time.perf_counter()
    parsed = parse_rank_request(body, plan, state.settings.max_candidates)
    t_parsed = time.perf_counter()
    ranked = await rank(model, plan, parsed, state.settings.rank_offload_candidates, keep_encoded=parsed.explain)
    t_ranked = time.perf_counter()
    _count_rank(metrics, plan.cache.capacity, parsed, ranked)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("ranked %d candidates", parsed.n_candidates, extra={"endpoint": "/v1/rank"})
    if state.settings.served_metrics:
        kept = slice(None) if not (ranked.skipped and len(ranked.unknown)) else ~np.isnan(ranked.logits)
        metrics.record_served(model.version, ranked.logits[kept], ranked.probabilities[kept])  # skipped: not served
    out: dict[str, Any] = {"model_version": model.version, "request_id": rid, "probabilities": ranked.probabilities}
    if parsed.by_id:
        out["unknown_indices"] = ranked.unknown
    scored = None  # positions with a score: all, unless unknown ids were skipped
    if ranked.skipped and len(ranked.unknown):
        scored = np.flatnonzero(~np.isnan(ranked.logits))
    chosen = None
    if parsed.top_k is not None:
        if scored is None:
            chosen = top_indices(ranked.logits, parsed.top_k)
        else:
            chosen = scored[top_indices(ranked.logits[scored], parsed.top_k)]
        out["top_indices"] = chosen
    if parsed.explain:
        # with top_k only the returned candidates are explained: the ones a client will show
        keep = chosen if chosen is not None else scored if scored is not None else np.arange(parsed.n_candidates)
        assert ranked.candidate_ids is not None and ranked.candidate_values is not None
        ids = plan.merge(ranked.context_ids, ranked.candidate_ids[keep])
        values = plan.merge(ranked.context_values, ranked.candidate_values[keep])
        rows = await model.store.gather(ids)
        records = None
        if model.encoder.hashed:  # hashed ids need the raw values to name features
            records = [{**parsed.context, **candidate_fields(parsed, ranked, i)} for i in keep.tolist()]
        out["explanations"] = await _explain(state, Explainer.for_model(model), ids, rows, values,
                                             ranked.logits[keep], indices=keep, records=records)  # fmt: skip
    answer = orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)
    parse, ranking, serialise = metrics.rank_stages
    parse.observe(t_parsed - t_start)
    ranking.observe(t_ranked - t_parsed)
    serialise.observe(time.perf_counter() - t_ranked)  # includes explanations when asked for
    return answer


def _count_rank(metrics: Metrics, cache_capacity: int, parsed: RankRequest, ranked: Ranked) -> None:
    if cache_capacity and parsed.candidates:
        metrics.rank_cache.labels("hit").inc(ranked.cache_hits)
        metrics.rank_cache.labels("miss").inc(len(parsed.candidates) - ranked.cache_hits)
    if parsed.candidate_ids:
        metrics.catalog_found.inc(len(parsed.candidate_ids) - len(ranked.unknown))
        if len(ranked.unknown):
            metrics.catalog_unknown.inc(len(ranked.unknown))
    metrics.scored_rows.labels("/v1/rank").inc(parsed.n_candidates)
    metrics.rows_per_request.observe(parsed.n_candidates)


def candidate_fields(parsed: RankRequest, ranked: Ranked, position: int) -> dict[str, Any]:
    """The raw candidate fields at ``position``: a catalog item's, an unknown id alone, or the object sent."""
    n_ids = len(parsed.candidate_ids)
    if position >= n_ids:
        return parsed.candidates[position - n_ids]
    row = int(ranked.catalog_rows[position])
    catalog = ranked.catalog
    assert catalog is not None
    return catalog.item(row) if row >= 0 else {catalog.source: parsed.candidate_ids[position]}


async def _score_shadow(
    state: ServerState, shadow: ScoringModel, parsed: ScoreRequest, impressions: Impressions
) -> None:
    """The shadow version scores the same rows, after the answer was sent; its scores go to the log and metrics."""
    metrics = state.metrics
    try:
        if parsed.n_rows >= state.settings.offload_rows:
            batch = await run_in_threadpool(parsed.encode, shadow.encoder)
        else:
            batch = parsed.encode(shadow.fast_encoder)
        rows = await shadow.store.gather(batch.ids)
        scores = shadow.infer(rows, batch.values)
    except Exception as exc:  # e.g. a field the shadow's schema does not know: the comparison lacks this request
        metrics.shadow_errors.inc()
        log.debug("shadow %s could not score a request: %s", shadow.version, exc)
    else:
        metrics.shadow_rows.labels(shadow.version).inc(parsed.n_rows)
        if state.settings.served_metrics:  # the served-probability histogram, labelled by the shadow's version
            metrics.record_served(shadow.version, scores.logits, scores.probabilities)
        impressions.shadow_version, impressions.shadow_probabilities = shadow.version, scores.probabilities
    if state.events is not None:
        state.events.log_impressions(impressions)


async def feedback_json(state: ServerState, body: bytes, rid: str) -> bytes:
    """POST /v1/feedback: validate the events and queue them for the log (app/feedback)."""
    if state.events is None:
        raise NotFound("feedback is not collected on this server (CTR_IMPRESSION_LOG=off)")
    now = time.time()
    events = parse_feedback(body, state.settings.max_records, now)
    if not state.events.log_feedback(Feedback(events, now)):
        raise NotReady("the feedback log is full; retry shortly")
    clicks = sum(e["clicked"] for e in events)
    state.metrics.feedback_events.labels("true").inc(clicks)
    state.metrics.feedback_events.labels("false").inc(len(events) - clicks)
    return orjson.dumps({"accepted": len(events), "request_id": rid})
