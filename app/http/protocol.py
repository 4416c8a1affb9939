"""The connection under the app: uvicorn's httptools protocol, with deadlines for slow clients and counted leavers.

uvicorn 0.55 with httptools bounds only an idle connection *between* requests (``timeout_keep_alive``,
armed when a response completes). Nothing bounds a connection that never sends a byte, headers that
trickle in (slowloris) or a body sent a byte a second: each holds its connection, its buffers and a
slot of ``limit_concurrency`` for as long as the client likes. :class:`EdgeProtocol` adds, per worker,
one sweep a second over the open connections (no timer and no task per request):

* a new connection that has not started a request within ``CTR_KEEP_ALIVE_SECONDS`` is closed, as
  uvicorn already closes one between requests;
* a request that is not whole (request line, headers and body) ``CTR_BODY_TIMEOUT_SECONDS`` after its
  first byte is answered 408 ``request_timeout`` in the one error body and its connection closed. The
  app, if it was already waiting in ``receive()``, sees a disconnect and answers nothing;
* an answer that fills the transport's buffer (a client not reading: a "slow reader") must have left it
  within the same ``CTR_BODY_TIMEOUT_SECONDS``, or the connection is aborted and its buffer freed
  (uvicorn has no write timeout: a few MB of explanations per connection would stay in memory).

Request line and headers are limited to ``CTR_MAX_HEADER_BYTES`` (431 ``headers_too_large``):
httptools (llhttp) sets no limit: plain uvicorn took a 16 MiB header value whole, and the worker's peak
RSS grew by ~29 MB (reports/abuse.json, ``slow_body_plain_uvicorn``; docs/security.md).

Past ``CTR_LIMIT_CONCURRENCY`` open connections (or running requests) a new request gets 503 ``busy``
in the error body with ``Retry-After`` (uvicorn's own ``limit_concurrency`` makes the same test but
answers in plain text, so it is not passed to uvicorn). Idle connections count towards it, which is
why the idle bound above matters: without it, a few hundred silent sockets would turn every client away.

It also counts clients that leave mid-request, by stage (``ctr_client_disconnects_total{stage}``:
headers, body, or response: before the answer was ready, or while more of it than the transport's
high-water mark (64 KiB) was still waiting to be sent; an answer already in the kernel's socket
buffers when the client goes is indistinguishable from a delivered one). Per request it costs one
``loop.time()`` and a few attribute writes: 2-5 µs in isolation (docs/security.md).

The limits come from the app's settings, which the lifespan puts in uvicorn's lifespan state
(``app_state["ctr"]``); under an app without them the protocol is plain uvicorn. This subclasses
uvicorn internals (``cycle``, ``connections``): tests/load_tests/test_abuse.py runs it in a real
server so an upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import ApiError, Busy, HeadersTooLarge, RequestTimeout
from app.http.responses import render_api_error

SWEEP_SECONDS = 1.0


class EdgeProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a deadline per request and per idle new connection (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline: float | None = None  # loop time by which the current stage must be over
        self.in_request = False  # a request's first byte has arrived, its last not yet
        self.in_headers = False
        self.closed_by_edge = False
        self.state: Any = None  # the app's ServerState (settings, metrics), from the lifespan
        self.body_timeout = self.limit = self.max_head = math.inf  # the settings read per request, at hand
        self.head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.state = self.app_state.get("ctr")
        if self.state is None:
            return
        settings = self.state.settings
        self.body_timeout, self.limit = settings.body_timeout_seconds, settings.limit_concurrency
        self.max_head = settings.max_header_bytes
        self.deadline = self.loop.time() + settings.keep_alive_seconds
        if not getattr(self.server_state, "ctr_sweeping", False):
            self.server_state.ctr_sweeping = True  # type: ignore[attr-defined]
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, self.server_state)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.in_headers:  # all of ``data`` was request line and headers (but the tail of a pipelined body)
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head and not self.transport.is_closing():
                self.deadline = None
                detail = f"request line and headers exceed {self.max_head} bytes (CTR_MAX_HEADER_BYTES)"
                self._answer(HeadersTooLarge(detail), b"431 Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_request = self.in_headers = True
        self.deadline = self.loop.time() + self.body_timeout

    def on_headers_complete(self) -> None:
        self.in_headers = False
        self.head_bytes = 0
        if len(self.connections) < self.limit and len(self.tasks) < self.limit:
            super().on_headers_complete()
            return
        # uvicorn's own limit_concurrency answers in plain text: the same test, answered in the error body
        app, self.app = self.app, self._busy
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    async def _busy(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self.state.settings.limit_concurrency
        detail = f"this worker is at its {limit} connections (CTR_LIMIT_CONCURRENCY); retry in {Busy.retry_after} s"
        _, body = render_api_error(self.state.metrics, Busy(detail))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                   (b"retry-after", b"%d" % Busy.retry_after), (b"connection", b"close")]  # fmt: skip
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.deadline is None and self.state is not None:  # an answer the client is not taking fast enough
            self.deadline = self.loop.time() + self.body_timeout

    def on_message_complete(self) -> None:
        self.in_request = False
        self.deadline = None  # whole: from here the app's own time is not the client's fault
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state is not None and not self.closed_by_edge:
            stage = self._stage_lost(exc)
            if stage is not None:
                self.state.metrics.client_disconnects.labels(stage).inc()
        super().connection_lost(exc)

    def _stage_lost(self, exc: Exception | None) -> str | None:
        """Where the request was when its client left, or None if it left between requests."""
        if self.in_request:
            return "headers" if self.in_headers else "body"
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return "response"
        if self.flow is not None and self.flow.write_paused:
            return "response"  # handed to the transport, over its high-water mark, never delivered
        return None

    def expire(self) -> None:
        """The deadline passed: close an idle connection, abort an undelivered answer, 408 an unfinished request."""
        self.deadline = None
        if self.transport.is_closing():
            return
        if not self.in_request:
            if self.cycle is None:  # a new connection that never started a request
                self.closed_by_edge = True
                self.state.metrics.connection_timeouts.labels("idle").inc()
                self.transport.close()
            elif self.transport.get_write_buffer_size() > 0:  # an answer the client did not take in time
                self.closed_by_edge = True
                self.state.metrics.connection_timeouts.labels("send").inc()
                self.transport.abort()  # close() would wait for the buffer to drain: drop it
            return  # else the answer was delivered: uvicorn's keep-alive timer takes it from here
        self.closed_by_edge = True
        self.state.metrics.connection_timeouts.labels("request").inc()
        cycle = None if self.in_headers else self.cycle  # in the headers, ``cycle`` is the previous request's
        if cycle is not None and cycle.response_started:  # answered early (413, 503): stop reading the rest
            self.transport.close()
            return
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() now returns http.disconnect, its send() is dropped
            cycle.message_event.set()
        seconds = self.state.settings.body_timeout_seconds
        self._answer(RequestTimeout(f"the request was not received whole within {seconds:g} s "
                                    "(CTR_BODY_TIMEOUT_SECONDS)"), b"408 Request Timeout")  # fmt: skip

    def _answer(self, error: ApiError, status_line: bytes) -> None:
        """Answer ``error`` in the error body on the connection itself (no app involved) and close it."""
        self.closed_by_edge = True  # closed by the edge: not a client that left
        _, body = render_api_error(self.state.metrics, error)
        head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (status_line, len(body))
        self.transport.write(head + b"connection: close\r\n\r\n" + body)
        self.transport.close()


def _sweep(loop: asyncio.AbstractEventLoop, server_state: Any) -> None:
    """Expire the connections of this worker past their deadline; runs every SWEEP_SECONDS."""
    now = loop.time()
    for connection in list(server_state.connections):
        deadline = getattr(connection, "deadline", None)
        if deadline is not None and deadline <= now:
            connection.expire()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, server_state)
