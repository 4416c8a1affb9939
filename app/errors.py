"""The server's exception tree and the one place errors become HTTP responses.

::

    ApiError (400 bad_request)
    ├── MalformedBody (400 malformed_json)       body is not JSON
    ├── InvalidRequest (422 invalid_request)     wrong shape, type, unknown or missing field, limits
    ├── PayloadTooLarge (413 payload_too_large)  body over CTR_MAX_BODY_BYTES
    ├── NotFound (404 not_found) / MethodNotAllowed (405 method_not_allowed)
    └── NotReady (503 not_ready)                 no model loaded (yet), or a backend is unavailable
        └── StoreUnavailable (503 store_unavailable)  the embedding store (Redis) failed or timed out;
                                                      raised only by app.redis_client.redis_errors

Every error body is ``{"error": <code>, "detail": <message>, "field": <request key or null>}``.
Unexpected exceptions are logged with their traceback and answered with a generic 500: their text
is never echoed to clients.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.metrics import Metrics
from contract.values import EncodingError

log = logging.getLogger("app")


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class MalformedBody(ApiError):
    status, code = 400, "malformed_json"


class InvalidRequest(ApiError):
    status, code = 422, "invalid_request"

    @classmethod
    def from_encoding(cls, exc: EncodingError) -> InvalidRequest:
        return cls(str(exc), exc.field)


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class NotReady(ApiError):
    status, code = 503, "not_ready"


class StoreUnavailable(NotReady):
    """Rows could not be read from the embedding store; ``kind`` is a bounded metric label."""

    status, code = 503, "store_unavailable"

    def __init__(self, detail: str, kind: str = "other") -> None:
        super().__init__(detail)
        self.kind = kind


def error_response(status: int, code: str, detail: str, field: str | None = None) -> Response:
    """The one error body: ``{"error", "detail", "field"}``."""
    return Response(error_body(code, detail, field), status_code=status, media_type="application/json")


def error_body(code: str, detail: str, field: str | None = None) -> bytes:
    return orjson.dumps({"error": code, "detail": detail, "field": field})


def render_api_error(metrics: Metrics, exc: ApiError) -> tuple[int, bytes]:
    """Status and body of one of our errors, counted; shared by FastAPI's handler and ``app.hot_path``."""
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
