"""The app factory: ``create_app(settings)`` builds a server; uvicorn runs ``app.main:create_app``."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import prometheus_client
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.feedback.drift import DriftMonitor
from app.feedback.log import EventLog, Sink
from app.feedback.segments import SegmentSink, recover_orphans
from app.feedback.stream import RedisStreamSink
from app.http.admin import router as admin_router
from app.http.auth import Auth, AuthGate
from app.http.front import HotPath
from app.http.middleware import MetricsMiddleware
from app.http.openapi import install_openapi
from app.http.responses import install_handlers
from app.http.routes import router
from app.metrics import Metrics, multiprocess_dir
from app.settings import Settings, unknown_variables
from app.state import ServerState
from app.versions.activation import Activation
from app.versions.directory import DirectorySource
from app.versions.redis_source import RedisSource
from contract.logs import configure as configure_logs

log = logging.getLogger("app")


def event_log_for(settings: Settings, metrics: Metrics) -> EventLog | None:
    """The impression log the settings ask for (CTR_IMPRESSION_LOG), or None."""
    if settings.impression_log == "off":
        return None
    sink: Sink
    if settings.impression_log == "redis":
        sink = RedisStreamSink(settings, settings.redis_model or settings.model_dir.name,
                               settings.impression_stream_maxlen)  # fmt: skip
    else:
        for path in recover_orphans(settings.impression_dir):
            log.warning("recovered %s, left open by a process that died", path)
        sink = SegmentSink(settings.impression_dir, settings.impression_rotate_seconds)
    return EventLog(sink, metrics, settings.impression_queue_rows, settings.impression_sample)


def activation_for(state: ServerState) -> Activation:
    """The one activation path, fed by the configured store's source of versions."""
    settings, metrics = state.settings, state.metrics
    if settings.store == "redis":
        fallback = settings.redis_fallback_dir
        return Activation(state, RedisSource(settings, metrics),
                          DirectorySource(settings, metrics, fallback) if fallback is not None else None)  # fmt: skip
    return Activation(state, DirectorySource(settings, metrics, pinned=settings.model_version))


async def _flush_metrics(metrics: Metrics, seconds: float) -> None:
    """Several workers: write this worker's cheap metrics to its files now and then (app.counting)."""
    try:
        while True:
            await asyncio.sleep(seconds)
            metrics.cheap.flush()
    finally:
        metrics.cheap.flush()  # the last values of a worker that stops


async def _watch_loop_lag(metrics: Metrics, interval: float) -> None:
    """Sleep ``interval`` again and again and record the overshoot: how long the loop was busy elsewhere.

    Cheap (one timer and one histogram observation per interval) and recorded on the loop thread
    like every cheap metric. A stuck or saturated worker shows up here even when no request completes.
    """
    lag = metrics.event_loop_lag.labels()
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - started - interval))


class ScoringApp(FastAPI):
    """FastAPI whose requests enter through ``front``: the metrics middleware, then the scoring hot path.

    Both sit outside FastAPI's own middleware stack, so a ``/v1/score`` request answered by
    ``app.http.front`` pays for none of it; everything else continues into FastAPI as usual.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logs(settings.log_level, settings.log_format)
    for warning in unknown_variables():
        log.warning(warning)
    prometheus_client.disable_created_metrics()  # *_created series double the exposition for no use here
    if settings.workers > 1 and multiprocess_dir() is None:
        # Each worker would answer /metrics with its own counts only: refuse rather than mislead.
        raise RuntimeError(
            "CTR_WORKERS > 1 needs PROMETHEUS_MULTIPROC_DIR so /metrics covers every worker: start the server "
            "with `ctr serve`, which sets it up"
        )
    state = ServerState(settings=settings, metrics=Metrics())
    auth = Auth.from_settings(settings, state.metrics)  # None: off; a bad keys file stops the start here

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, ServerState]]:
        flusher = None
        if state.metrics.multiprocess:
            flusher = asyncio.create_task(_flush_metrics(state.metrics, settings.metrics_flush_seconds))
        watcher = None
        if settings.event_loop_lag_interval_seconds > 0:
            watcher = asyncio.create_task(_watch_loop_lag(state.metrics, settings.event_loop_lag_interval_seconds))
        activation = activation_for(state)
        app.state.activation = activation  # the admin endpoints switch versions through it
        await activation.start()  # ready or not: a server without a model answers /readyz 503 and keeps checking
        state.events = event_log_for(settings, state.metrics)
        drift = DriftMonitor(state.metrics, lambda: state.model, settings.drift_seconds, settings.drift_window_seconds,
                             settings.drift_min_rows)  # fmt: skip
        if settings.served_metrics:  # drift reads the served-probability and OOV counts
            drift.start()
        tune_gc(settings.gc_gen0_threshold)
        keys_watcher = asyncio.create_task(auth.watch()) if auth is not None else None
        try:
            yield {"ctr": state}  # uvicorn's lifespan state: app.http.protocol reads the limits and metrics there
        finally:
            if keys_watcher is not None:
                keys_watcher.cancel()
            await drift.close()
            if state.events is not None:  # stopped first: what is queued is written before the process ends
                await asyncio.to_thread(state.events.close)
            await activation.close()
            for task in (watcher, flusher):  # the flusher last: it writes the final values
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task

    app = ScoringApp(
        title="CTR scoring (factorization machine)",
        description="Real-time click probabilities from an FM trained with MixFM/SMFM augmentation.",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=None if settings.otel_telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctr = state
    app.include_router(router)
    if auth is not None:  # admin endpoints exist only behind keys
        app.include_router(admin_router)
    install_handlers(app, state.metrics)
    install_openapi(app, state, auth.document if auth is not None else None)
    routers = (router, admin_router) if auth is not None else (router,)
    endpoints = frozenset(route.path for r in routers for route in r.routes if hasattr(route, "path"))
    fastapi_app = super(ScoringApp, app).__call__
    inner: ASGIApp = HotPath(fastapi_app, state) if settings.hot_path else fastapi_app
    if auth is not None:  # in front of both ways in: one check decides for the hot path and FastAPI alike
        inner = AuthGate(inner, auth)
    app.front = MetricsMiddleware(inner, metrics=state.metrics, endpoints=endpoints)  # counts and times both
    return app


_tuned = False


def tune_gc(gen0_threshold: int) -> None:
    """Freeze start-up objects and set the young-generation threshold; 0 keeps Python's defaults.

    Python's cyclic garbage collector runs a young-generation pass every 700 container allocations
    and, now and then, a full pass over every object in the process (FastAPI, pydantic, numpy and
    onnxruntime leave tens of thousands). A request body of a thousand candidates allocates thousands
    of dicts and lists, all freed by reference counting when the request ends, yet it pays for several
    passes: parsing a 1,000-candidate /v1/rank body took on average twice as long with the defaults as
    with the collector disabled, with a p99 of tens of ms (reports/rank_compute.json, docs/ranking.md).
    So after start-up the server freezes the objects that live for the whole process (``gc.freeze``:
    later passes skip them) and runs the young pass less often. The collector stays enabled: reference
    cycles are still reclaimed.

    Once per process: a process that builds several apps (tests) freezes only what its first
    start-up left, so objects of later, shorter-lived apps stay collectable.
    """
    global _tuned
    if gen0_threshold <= 0 or _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    log.info("gc: froze %d start-up objects, young-generation threshold %d", gc.get_freeze_count(), gen0_threshold)
