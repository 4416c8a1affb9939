"""The app factory: ``create_app(settings)`` builds a server; uvicorn runs ``app.main:create_app``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import prometheus_client
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import router
from app.errors import install_handlers
from app.hot_path import HotPath
from app.metrics import Metrics, MetricsMiddleware
from app.runtime import tune_gc
from app.scoring import ScoringModel
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
    from app.activation import RedisActivation

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
    ``app.hot_path`` pays for none of it; everything else continues into FastAPI as usual.
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
