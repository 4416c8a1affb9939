"""The micro-batcher: merged runs score exactly like unbatched ones; flushes, failures, cancels, close."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest
import uvloop

from app.main import create_app
from app.metrics import Metrics
from app.scoring.microbatch import MicroBatcher
from app.scoring.model import Scores, ScoringModel
from app.settings import Settings
from contract.fm import sigmoid

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}
LONG = 10.0  # a delay no test waits for: only a size flush or close() can release the queue


class RecordingRun:
    """A fake scorer: score = sum of a row's values, so every row's answer is known; records run sizes."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sizes: list[int] = []
        self.fail_times = fail_times

    def __call__(self, rows: np.ndarray, values: np.ndarray) -> Scores:
        self.sizes.append(len(rows))
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("onnxruntime broke")
        logits = values.sum(axis=1).astype(np.float32)
        return Scores(sigmoid(logits), logits)


async def settle(*awaitables, return_exceptions: bool = False) -> list:
    """gather, failing within 2 s: a waiter the batcher forgets must fail the test, not hang it."""
    return await asyncio.wait_for(asyncio.gather(*awaitables, return_exceptions=return_exceptions), 2.0)


def request(n: int, first: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n rows (n, 2, 3) whose values sum to first, first+1, ...: each row's logit names it."""
    values = np.zeros((n, 2), np.float32)
    values[:, 0] = first + np.arange(n)
    return np.zeros((n, 2, 3), np.float32), values


def expected(n: int, first: float = 0.0) -> np.ndarray:
    return (first + np.arange(n)).astype(np.float32)


@pytest.fixture(params=sorted(LOOPS))
def run_loop(request):
    return LOOPS[request.param]


# -- with the real scorer --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(artifact_path):
    return ScoringModel.load(Settings(model_dir=artifact_path))


def random_request(model: ScoringModel, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    table = model.store.table  # (F, K+1)
    ids = rng.integers(0, len(table), (n, model.encoder.num_slots))
    values = rng.uniform(0.2, 1.0, ids.shape).astype(np.float32)
    return table.take(ids, axis=0), values  # (n, S, K+1), (n, S)


def test_concurrent_requests_score_as_unbatched(model, run_loop):
    rng = np.random.default_rng(3)
    requests = [random_request(model, n, rng) for n in (1, 3, 2, 5, 1, 4, 7, 2)]
    runs = []

    def run(rows, values):
        runs.append(len(rows))
        return model.infer(rows, values)

    async def main():
        batcher = MicroBatcher(run, max_rows=64, max_delay_s=0.005, metrics=Metrics())
        return await settle(*(batcher.infer(r, v) for r, v in requests))

    results = run_loop(main())
    assert runs == [sum(len(r) for r, _ in requests)]  # one merged run
    for (rows, values), got in zip(requests, results, strict=True):
        alone = model.infer(rows, values)
        np.testing.assert_allclose(got.probabilities, alone.probabilities, atol=1e-6, rtol=0)
        np.testing.assert_allclose(got.logits, alone.logits, atol=1e-6, rtol=0)
        assert got.probabilities.shape == (len(rows),)


def test_model_owns_a_batcher_only_when_enabled(artifact_path):
    assert Settings().microbatch_max_rows == 0
    assert ScoringModel.load(Settings(model_dir=artifact_path)).batcher is None
    on = ScoringModel.load(Settings(model_dir=artifact_path, microbatch_max_rows=32, microbatch_max_delay_us=50))
    assert on.batcher is not None
    assert (on.batcher.max_rows, on.batcher.max_delay_s) == (32, 50e-6)
    asyncio.run(on.close())
    assert on.batcher.closed


@pytest.mark.parametrize("bad", [{"microbatch_max_rows": -1}, {"microbatch_max_delay_us": -1}])
def test_settings_refuse_negative_values(bad):
    with pytest.raises(ValueError):
        Settings(**bad)


# -- flushing --------------------------------------------------------------------------------------
def test_flush_by_size_never_exceeds_max_rows(run_loop):
    run = RecordingRun()

    async def main():
        batcher = MicroBatcher(run, max_rows=4, max_delay_s=LONG)
        # 3 rows wait; 2 more would overflow, so the 3 run alone; 2 + 2 = 4 then runs at once
        return await settle(*(batcher.infer(*request(n, 10 * i)) for i, n in enumerate((3, 2, 2))))

    results = run_loop(main())
    assert run.sizes == [3, 4]
    for i, (n, got) in enumerate(zip((3, 2, 2), results, strict=True)):
        np.testing.assert_array_equal(got.logits, expected(n, 10 * i))


def test_flush_by_delay(run_loop):
    run = RecordingRun()
    delay = 0.03

    async def main():
        batcher = MicroBatcher(run, max_rows=1000, max_delay_s=delay)
        started = time.perf_counter()
        first = await settle(batcher.infer(*request(1)), batcher.infer(*request(2, 5)))
        waited = time.perf_counter() - started
        second = await batcher.infer(*request(1, 9))  # an empty queue again: a new timer
        return first, second, waited

    (a, b), c, waited = run_loop(main())
    assert run.sizes == [3, 1]
    assert waited >= delay * 0.9
    np.testing.assert_array_equal(a.logits, expected(1))
    np.testing.assert_array_equal(b.logits, expected(2, 5))
    np.testing.assert_array_equal(c.logits, expected(1, 9))


def test_zero_delay_merges_requests_of_one_loop_turn(run_loop):
    run = RecordingRun()

    async def main():
        batcher = MicroBatcher(run, max_rows=100, max_delay_s=0.0)
        return await settle(*(batcher.infer(*request(2, 10 * i)) for i in range(3)))

    run_loop(main())
    assert run.sizes == [6]


def test_oversized_request_bypasses_the_queue(run_loop):
    run = RecordingRun()

    async def main():
        batcher = MicroBatcher(run, max_rows=4, max_delay_s=LONG)
        small = asyncio.ensure_future(batcher.infer(*request(1)))
        await asyncio.sleep(0)  # the small request is queued
        big = await asyncio.wait_for(batcher.infer(*request(5, 100)), 1.0)
        assert not small.done()  # the bypass neither waited for it nor flushed it
        batcher.close()
        return big, await small

    big, small = run_loop(main())
    assert run.sizes == [5, 1]
    np.testing.assert_array_equal(big.logits, expected(5, 100))
    np.testing.assert_array_equal(small.logits, expected(1))


# -- failures, cancellation, shutdown -------------------------------------------------------------
def test_an_exception_reaches_every_waiter_and_the_next_batch_runs(run_loop):
    run = RecordingRun(fail_times=1)

    async def main():
        batcher = MicroBatcher(run, max_rows=100, max_delay_s=0.005)
        failed = await settle(*(batcher.infer(*request(n)) for n in (1, 2, 3)), return_exceptions=True)
        after = await batcher.infer(*request(2, 7))
        return failed, after

    failed, after = run_loop(main())
    assert run.sizes == [6, 2]
    assert [type(e) for e in failed] == [RuntimeError] * 3
    np.testing.assert_array_equal(after.logits, expected(2, 7))


def test_a_cancelled_waiter_does_not_disturb_the_others(run_loop):
    run = RecordingRun()

    async def main():
        batcher = MicroBatcher(run, max_rows=100, max_delay_s=0.02)
        tasks = [asyncio.ensure_future(batcher.infer(*request(n, 10 * i))) for i, n in enumerate((1, 2, 3))]
        await asyncio.sleep(0)  # all three queued
        tasks[1].cancel()
        return await settle(*tasks, return_exceptions=True)

    first, cancelled, third = run_loop(main())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert run.sizes == [4]  # the cancelled request's rows were not scored
    np.testing.assert_array_equal(first.logits, expected(1, 0))
    np.testing.assert_array_equal(third.logits, expected(3, 20))


def test_close_scores_the_queue_and_leaves_no_timer_or_task(run_loop):
    run = RecordingRun()

    async def main():
        batcher = MicroBatcher(run, max_rows=100, max_delay_s=LONG)
        waiting = [asyncio.ensure_future(batcher.infer(*request(n, 10 * i))) for i, n in enumerate((2, 1))]
        await asyncio.sleep(0)
        assert batcher._timer is not None
        batcher.close()
        assert batcher._timer is None
        done = await settle(*waiting)
        later = await asyncio.wait_for(batcher.infer(*request(1, 50)), 1.0)  # after close: unbatched, at once
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return done, later

    (a, b), later = run_loop(main())
    assert run.sizes == [3, 1]
    np.testing.assert_array_equal(a.logits, expected(2, 0))
    np.testing.assert_array_equal(b.logits, expected(1, 10))
    np.testing.assert_array_equal(later.logits, expected(1, 50))


def test_metrics_record_queue_time_rows_and_runs():
    metrics = Metrics()

    async def main():
        batcher = MicroBatcher(RecordingRun(), max_rows=100, max_delay_s=0.01, metrics=metrics)
        await settle(*(batcher.infer(*request(n)) for n in (1, 2, 3)))

    asyncio.run(main())
    sample = metrics.registry.get_sample_value
    assert sample("ctr_microbatch_runs_total") == 1
    assert sample("ctr_microbatch_rows_sum") == 6
    assert sample("ctr_microbatch_queue_duration_seconds_count") == 3
    assert sample("ctr_microbatch_queue_duration_seconds_sum") >= 0.009 * 2  # the first two waited the delay
    assert sample("ctr_microbatch_run_duration_seconds_count") == 1


# -- over HTTP -------------------------------------------------------------------------------------
def test_http_concurrent_scores_match_the_unbatched_server(artifact_path, sample_records, client):
    bodies = [{"records": sample_records[i : i + n]} for i, n in ((0, 1), (1, 3), (4, 2), (6, 5), (11, 1), (12, 4))]
    unbatched = [client.post("/v1/score", json=body).json()["probabilities"] for body in bodies]
    app = create_app(Settings(model_dir=artifact_path.parent, microbatch_max_rows=256, microbatch_max_delay_us=50_000))

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                replies = await settle(*(http.post("/v1/score", json=body) for body in bodies))
                exposition = (await http.get("/metrics")).text
        return replies, exposition

    replies, exposition = asyncio.run(main())
    assert [r.status_code for r in replies] == [200] * len(bodies)
    for reply, alone in zip(replies, unbatched, strict=True):
        np.testing.assert_allclose(reply.json()["probabilities"], alone, atol=1e-6, rtol=0)
    metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in exposition.splitlines() if line[:1] != "#"}
    assert metrics["ctr_microbatch_rows_sum"] == sum(len(b["records"]) for b in bodies)
    assert metrics["ctr_microbatch_runs_total"] < len(bodies)  # requests were merged
    assert metrics["ctr_microbatch_queue_duration_seconds_count"] == len(bodies)
