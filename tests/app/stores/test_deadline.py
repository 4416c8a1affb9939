"""The lookup deadline: fails slow calls, keeps answers that arrived while the loop was busy, on both loops."""

import asyncio
import time

import pytest
import uvloop

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


@pytest.fixture(params=sorted(LOOPS))
def run(request):
    return LOOPS[request.param]


def busy(seconds: float) -> None:
    """Hold the event loop, as a request doing CPU work does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_returns_the_result_in_time(run):
    from app.stores.deadline import within_deadline

    async def main():
        return await within_deadline(asyncio.sleep(0.001, result=7), 1.0)

    assert run(main()) == 7


def test_fails_a_call_that_does_not_answer(run):
    from app.stores.deadline import within_deadline

    async def main():
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await within_deadline(asyncio.sleep(10), 0.02)
        task = asyncio.current_task()
        return time.perf_counter() - started, task.cancelling()

    elapsed, cancelling = run(main())
    assert elapsed < 1.0 and cancelling == 0  # nothing left pending on the task


def test_keeps_an_answer_that_arrived_while_the_loop_was_busy(run):
    """The reply and the deadline fall due in the same turn: asyncio.timeout loses the reply, we do not."""
    from app.stores.deadline import within_deadline

    async def answer_during_busy_loop(wrap):
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        # Wide margins, so a loaded machine's scheduling jitter cannot reorder the three events:
        loop.call_later(0.02, busy, 0.2)  # the loop is busy from 20 ms to 220 ms ...
        loop.call_later(0.05, reply.set_result, "rows")  # ... the reply arrives at 50 ms, the deadline is 100 ms
        return await wrap(reply)

    async def ours(reply):
        return await within_deadline(reply, 0.1)

    async def plain(reply):
        async with asyncio.timeout(0.1):
            return await reply

    assert run(answer_during_busy_loop(ours)) == "rows"
    with pytest.raises(TimeoutError):  # why this module exists
        run(answer_during_busy_loop(plain))


def test_a_cancellation_from_outside_is_not_a_timeout(run):
    from app.stores.deadline import within_deadline

    async def main():
        inner = asyncio.ensure_future(within_deadline(asyncio.sleep(10), 5.0))
        await asyncio.sleep(0.01)
        inner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await inner

    run(main())
