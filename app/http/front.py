"""A pure-ASGI front for the two scoring endpoints: the same handlers, without FastAPI's routing stack.

A single-record score costs ~0.3 ms of CPU, and a profile (docs/performance.md) showed about a
sixth of it in FastAPI/Starlette's per-request machinery: route matching, dependency solving,
an exit stack, the exception middleware's send wrappers, the ``Response`` object. For
``POST /v1/score`` and ``POST /v1/rank`` this middleware reads the body, calls the very functions
the FastAPI routes call (``app.http.routes.score_json`` / ``rank_json``), and renders errors with the
same helpers as the app's exception handlers, so answers are byte-for-byte those of the routes
(tests/app/http/test_front.py). Everything else — other paths and methods, ``/docs``, the OpenAPI
schema, which still documents both endpoints — passes through to FastAPI.

Bodies count against a per-worker budget (``CTR_BODY_BUDGET_BYTES``) from the moment they are
announced until their answer is built: past it, 503 ``busy`` with ``Retry-After`` before a byte of
the body is read, so concurrent maximum-size bodies cannot exhaust memory (docs/security.md).
A body of unknown length (chunked) reserves ``CTR_MAX_BODY_BYTES``, the most it may grow to.
Slow requests and idle connections are bounded below the app, in ``app.http.protocol``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ApiError, Busy
from app.http.body import AFTER_RESPONSE, AfterResponse, ClientGone, receive_body, request_id, run_after_response
from app.http.handlers import Handler, feedback_json, rank_json, score_json
from app.http.responses import render_api_error, render_unexpected
from app.state import ServerState

HANDLERS: dict[str, Handler] = {"/v1/score": score_json, "/v1/rank": rank_json, "/v1/feedback": feedback_json}
_JSON = (b"content-type", b"application/json")
# The body of a refused request was not read: the connection cannot carry another request.
_CLOSE = (b"connection", b"close")
_RETRY = (b"retry-after", b"%d" % Busy.retry_after)


class HotPath:
    """ASGI middleware answering ``POST /v1/score`` and ``POST /v1/rank`` itself."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        self.budget_free = state.settings.body_budget_bytes  # body bytes this worker may still take on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        given_id = declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1")
            elif name == b"x-request-id":
                given_id = value.decode("latin-1")
        rid = request_id(given_id)
        state = self.state
        limit = state.settings.max_body_bytes
        cost = min(int(declared), limit) if declared is not None and declared.isdigit() else limit
        pending: list[AfterResponse] = []
        AFTER_RESPONSE.set(pending)
        extra: tuple[tuple[bytes, bytes], ...] = ()
        if cost > self.budget_free:
            status, answer = render_api_error(
                state.metrics,
                Busy(f"too many request bodies in progress (CTR_BODY_BUDGET_BYTES); retry in {_RETRY[1].decode()} s"),
            )
            extra = (_RETRY, _CLOSE)
        else:
            self.budget_free -= cost
            try:
                body = await receive_body(receive, limit, declared)
                status, answer = 200, await handler(state, body, rid)
            except ApiError as exc:
                status, answer = render_api_error(state.metrics, exc)
            except ClientGone:  # counted by the connection (app.http.protocol), which saw it go
                return
            except Exception as exc:  # a bug: logged in full, answered with a generic 500
                status, answer = render_unexpected(state.metrics, "POST", scope["path"], exc)
            finally:
                self.budget_free += cost
        headers = [_JSON, (b"content-length", b"%d" % len(answer)), (b"x-request-id", rid.encode("latin-1")), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        if pending:
            await run_after_response(pending)
