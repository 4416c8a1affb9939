"""Reading a request off the wire: its id and its body, with the byte limit applied while it arrives."""

from __future__ import annotations

import os

from starlette.types import Receive

from app.errors import PayloadTooLarge

_MAX_REQUEST_ID = 128


def request_id(given: str | None) -> str:
    """The client's ``x-request-id`` when it is sane, else a fresh random one (32 hex digits)."""
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return os.urandom(16).hex()  # a uuid4's randomness without building a UUID object


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is nobody to answer."""


async def receive_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without buffering it all."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes, the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)
