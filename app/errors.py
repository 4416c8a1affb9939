"""The server's exception tree: every error a request can end in, each with its HTTP status and code.

::

    ApiError (400 bad_request)
    ├── MalformedBody (400 malformed_json)       body is not JSON
    ├── InvalidRequest (422 invalid_request)     wrong shape, type, unknown or missing field, limits
    ├── PayloadTooLarge (413 payload_too_large)  body over CTR_MAX_BODY_BYTES
    ├── RequestTimeout (408 request_timeout)     request not whole within CTR_BODY_TIMEOUT_SECONDS
    ├── HeadersTooLarge (431 headers_too_large)  request line + headers over CTR_MAX_HEADER_BYTES
    ├── Busy (503 busy)                          bodies in progress past CTR_BODY_BUDGET_BYTES, or
    │                                            connections past CTR_LIMIT_CONCURRENCY (with Retry-After)
    ├── NotFound (404 not_found) / MethodNotAllowed (405 method_not_allowed)
    ├── Unauthorized (401 unauthorized)          no API key, or one the server does not hold (auth on)
    ├── Forbidden (403 forbidden)                the API key lacks the scope the endpoint needs
    ├── Conflict (409 conflict)                  an admin switch this server cannot make (pinned, refused)
    └── NotReady (503 not_ready)                 no model loaded (yet), or a backend is unavailable
        └── StoreUnavailable (503 store_unavailable)  the embedding store (Redis) failed or timed out;
                                                      raised only by app.stores.redis_client.redis_errors

Every error body is ``{"error": <code>, "detail": <message>, "field": <request key or null>}``,
rendered in one place (``app.http.responses``). Unexpected exceptions are logged with their traceback
and answered with a generic 500: their text is never echoed to clients. This module imports no web
framework, so stores and scoring raise these without depending on the HTTP edge.
"""

from __future__ import annotations

from contract.values import EncodingError


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
    def from_encoding(cls, exc: EncodingError, container: str | None = None) -> InvalidRequest:
        """The contract's error as a 422; ``container`` names the list at fault when no field is (a record
        that is not an object)."""
        return cls(str(exc), exc.field if exc.field is not None else container)


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class RequestTimeout(ApiError):
    """Written by the connection itself (app.http.protocol): the request never reaches the app."""

    status, code = 408, "request_timeout"


class HeadersTooLarge(ApiError):
    """Written by the connection itself (app.http.protocol), like RequestTimeout."""

    status, code = 431, "headers_too_large"


class Busy(ApiError):
    """This worker is at one of its limits (bodies in progress, connections); retry later (Retry-After)."""

    status, code = 503, "busy"
    retry_after = 1


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Unauthorized(ApiError):
    """Answered with ``WWW-Authenticate: Bearer``; the detail names the header, never the key.

    ``reason`` (missing, malformed, unknown) is a bounded metric label.
    """

    status, code = 401, "unauthorized"

    def __init__(self, detail: str, field: str | None = None, reason: str = "missing") -> None:
        super().__init__(detail, field)
        self.reason = reason


class Forbidden(ApiError):
    status, code = 403, "forbidden"
    reason = "scope"


class Conflict(ApiError):
    status, code = 409, "conflict"


class NotReady(ApiError):
    status, code = 503, "not_ready"


class StoreUnavailable(NotReady):
    """Rows could not be read from the embedding store; ``kind`` is a bounded metric label."""

    status, code = 503, "store_unavailable"

    def __init__(self, detail: str, kind: str = "other", address: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.address = address  # for logs and the operator's CLI; never sent to clients
