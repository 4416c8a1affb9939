"""The one place errors become HTTP responses, in the one error body, counted by code."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import ApiError, InvalidRequest, MethodNotAllowed, NotFound
from app.metrics import Metrics

log = logging.getLogger("app")


def error_response(status: int, code: str, detail: str, field: str | None = None) -> Response:
    """The one error body: ``{"error", "detail", "field"}``."""
    return Response(error_body(code, detail, field), status_code=status, media_type="application/json")


def error_body(code: str, detail: str, field: str | None = None) -> bytes:
    return orjson.dumps({"error": code, "detail": detail, "field": field})


def render_api_error(metrics: Metrics, exc: ApiError) -> tuple[int, bytes]:
    """Status and body of one of our errors, counted; shared by FastAPI's handler and ``app.http.front``."""
    metrics.errors.labels(exc.code).inc()
    return exc.status, error_body(exc.code, exc.detail, exc.field)


def render_unexpected(metrics: Metrics, method: str, path: str, exc: Exception) -> tuple[int, bytes]:
    """Log a bug in full; the client gets a generic 500 that echoes nothing of it."""
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)
    metrics.errors.labels("internal").inc()
    return 500, error_body("internal", "internal error; see the server log")


def install_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Render every error, ours or FastAPI's, in the one error format, counting them by code."""

    def respond(status: int, code: str, detail: str, field: str | None = None) -> Response:
        metrics.errors.labels(code).inc()
        return error_response(status, code, detail, field)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        status, body = render_api_error(metrics, exc)
        return Response(body, status_code=status, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        return respond(422, InvalidRequest.code, first.get("msg", "invalid request"), ".".join(loc) or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: NotFound.code, 405: MethodNotAllowed.code}
        return respond(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        status, body = render_unexpected(metrics, request.method, request.url.path, exc)
        return Response(body, status_code=status, media_type="application/json")
