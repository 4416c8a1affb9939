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

from app.http.front import HotPath
from app.http.middleware import MetricsMiddleware
from app.http.responses import install_handlers
from app.http.routes import router
from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.settings import Settings
from app.state import ServerState

log = logging.getLogger("app")


async def load_model(state: ServerState) -> bool:
    """Load, warm up and install the configured model; on failure record why and return False."""
    try:
        model = await asyncio.to_thread(ScoringModel.load, state.settings, metrics=state.metrics)
        await model.warm_up()
    except Exception as exc:  # any failure leaves the server up and not ready, with the reason
        state.not_ready_reason = f"{type(exc).__name__}: {exc}"
        state.metrics.model_load_failures.inc()
        log.error("model not loaded: %s", state.not_ready_reason)
        return False
    state.model = model
    state.not_ready_reason = ""
    state.metrics.set_model(model.name, model.version)
    return True


async def _keep_trying(state: ServerState) -> None:
    while True:
        await asyncio.sleep(state.settings.load_retry_seconds)
        if await load_model(state):
            return


@asynccontextmanager
async def _serving_from_redis(state: ServerState) -> AsyncIterator[None]:
    """CTR_STORE=redis: the activation watcher loads, swaps and retries (docs/redis.md)."""
    from app.versions.activation import RedisActivation

    activation = RedisActivation(state)
    await activation.start()
    try:
        yield
    finally:
        await activation.close()
        if state.model is not None:
            await state.model.close()


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
    prometheus_client.disable_created_metrics()  # *_created series double the exposition for no use here
    state = ServerState(settings=settings, metrics=Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.store == "redis":
            async with _serving_from_redis(state):
                yield
            return
        loader = None
        if not await load_model(state):
            loader = asyncio.create_task(_keep_trying(state))
        tune_gc(settings.gc_gen0_threshold)
        try:
            yield
        finally:
            if loader is not None:
                loader.cancel()
                with suppress(asyncio.CancelledError):
                    await loader
            if state.model is not None:
                await state.model.close()

    app = ScoringApp(
        title="CTR scoring (factorization machine)",
        description="Real-time click probabilities from an FM trained with MixFM/SMFM augmentation.",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=None if settings.otel_telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctr = state
    app.include_router(router)
    install_handlers(app, state.metrics)
    endpoints = frozenset(route.path for route in router.routes if hasattr(route, "path"))
    fastapi_app = super(ScoringApp, app).__call__
    inner: ASGIApp = HotPath(fastapi_app, state) if settings.hot_path else fastapi_app
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
