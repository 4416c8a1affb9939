"""Reading a request off the wire: its id and its body, with the byte limit applied while it arrives."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from starlette.types import Receive

from app.errors import PayloadTooLarge
from contract.logs import REQUEST_ID

_MAX_REQUEST_ID = 128
log = logging.getLogger("app")


def request_id(given: str | None) -> str:
    """The client's ``x-request-id`` when it is sane, else a fresh random one (32 hex digits).

    It also becomes the request's logging context: every log line of this request names it.
    """
    rid = given if given and len(given) <= _MAX_REQUEST_ID and given.isprintable() else os.urandom(16).hex()
    REQUEST_ID.set(rid)  # per request: each request runs in its own asyncio task, with its own context
    return rid


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is nobody to answer."""


async def receive_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without buffering it all."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, the limit is {limit} (CTR_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (CTR_MAX_BODY_BYTES)")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


# Work a handler defers until its answer is on the wire (shadow scoring): it never adds to the latency
# the client sees. The request's own task runs it right after sending, so it stays in the request's
# context (request id and model version in its log lines).
AfterResponse = Callable[[], Awaitable[None]]
AFTER_RESPONSE: ContextVar[list[AfterResponse] | None] = ContextVar("after_response", default=None)


def after_response(work: AfterResponse) -> None:
    """Run ``work`` once the answer has been sent (at once, in a task, outside a request)."""
    pending = AFTER_RESPONSE.get()
    if pending is None:
        asyncio.get_running_loop().create_task(work())
    else:
        pending.append(work)


async def run_after_response(pending: list[AfterResponse]) -> None:
    for work in pending:
        try:
            await work()
        except Exception:  # deferred work must never take a worker down
            log.exception("work deferred after a response failed")
