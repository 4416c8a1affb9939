"""A deadline for one await that does not fail answers which already arrived.

``asyncio.timeout`` cancels the moment its timer runs. On a busy event loop (many concurrent
requests, each a millisecond of CPU), the timer and the Redis reply become due in the same loop turn,
and the lookup is cancelled although its answer is sitting in the socket: the server reports
Redis as slow when it was the loop. :func:`within_deadline` instead lets the awaited call run for two
more loop turns after the timer, so replies received by then are consumed, and only then cancels it
and raises ``TimeoutError``. A cancellation from outside (the client went away) still propagates as
``CancelledError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within_deadline(awaitable: Awaitable[T], seconds: float) -> T:
    """Await ``awaitable`` in the current task; ``TimeoutError`` if it has not finished ~``seconds`` later."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None, "within_deadline must run inside a task"
    cancelling = task.cancelling()
    finished = expired = False

    def cancel() -> None:
        nonlocal expired
        if not finished:
            expired = True
            task.cancel()

    def expire() -> None:
        # Two turns: I/O that arrived with the timer is handled first (asyncio: same turn; uvloop: next).
        loop.call_soon(loop.call_soon, cancel)

    handle = loop.call_at(loop.time() + seconds, expire)
    try:
        result = await awaitable
    except asyncio.CancelledError:
        if expired and task.uncancel() <= cancelling:
            raise TimeoutError from None
        raise
    finally:
        finished = True
        handle.cancel()
    if expired:  # the awaited call swallowed our cancellation and finished: undo it
        task.uncancel()
    return result
