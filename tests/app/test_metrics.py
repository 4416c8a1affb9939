import re

from tests.app.conftest import post


def sample(text: str, metric: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    series = f"{metric}{{{label_text}}}" if labels else metric
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not exposed"
    return float(match.group(1))


def test_requests_are_counted_and_timed_by_endpoint_and_status(client, sample_records, artifact_path):
    for _ in range(3):
        post(client, {"records": sample_records[:2]})
    post(client, {"records": []})
    client.get("/no/such/path")
    text = client.get("/metrics").text
    assert sample(text, "ctr_http_requests_total", endpoint="/v1/score", method="POST", status="200") == 3
    assert sample(text, "ctr_http_requests_total", endpoint="/v1/score", method="POST", status="422") == 1
    assert sample(text, "ctr_http_requests_total", endpoint="other", method="GET", status="404") == 1
    assert sample(text, "ctr_http_request_duration_seconds_count", endpoint="/v1/score") == 4
    # sub-millisecond buckets exist, so a fast scorer is not lumped into one bucket
    assert 'ctr_http_request_duration_seconds_bucket{endpoint="/v1/score",le="0.00025"}' in text
    assert sample(text, "ctr_scored_rows_total", endpoint="/v1/score") == 6
    for stage in ("parse", "encode", "lookup", "inference", "serialise"):
        assert sample(text, "ctr_stage_duration_seconds_count", endpoint="/v1/score", stage=stage) == 3
    assert sample(text, "ctr_request_errors_total", code="invalid_request") == 1
    trained_at = client.get("/v1/model").json()["created_at"]
    assert trained_at
    assert sample(text, "ctr_model_info", name="tiny", trained_at=trained_at, version=artifact_path.name) == 1
    assert sample(text, "ctr_model_ready") == 1
    assert "_created" not in text


def test_each_app_has_its_own_registry(make_client, sample_records):
    first, second = make_client(), make_client()
    post(first, {"records": sample_records[:1]})
    text = second.get("/metrics").text
    assert 'ctr_http_requests_total{endpoint="/v1/score"' not in text


def test_offloaded_requests_are_in_every_stage_histogram(make_client, sample_records):
    """Review issue 16, defect 4: batches of CTR_OFFLOAD_ROWS or more skipped the encode and inference histograms."""
    client = make_client(offload_rows=4)
    post(client, {"records": sample_records[:2]})  # inline
    post(client, {"records": sample_records[:5]})  # offloaded to a worker thread
    text = client.get("/metrics").text
    for stage in ("parse", "encode", "lookup", "inference", "serialise"):
        assert sample(text, "ctr_stage_duration_seconds_count", endpoint="/v1/score", stage=stage) == 2, stage
    assert sample(text, "ctr_request_rows_sum") == 7


def test_rank_requests_are_timed_by_stage(client):
    candidates = [{"item": 6, "price": 50.0, "tags": ["news", "tech"]}, {"item": 17}, {"item": 999, "tags": "sport"}]
    body = {"context": {"user": 7, "device": "web"}, "candidates": candidates}
    assert post(client, body, path="/v1/rank").status_code == 200
    text = client.get("/metrics").text
    for stage in ("parse", "rank", "serialise"):
        assert sample(text, "ctr_stage_duration_seconds_count", endpoint="/v1/rank", stage=stage) == 1
    assert sample(text, "ctr_scored_rows_total", endpoint="/v1/rank") == 3


def test_event_loop_lag_records_how_long_the_loop_was_blocked():
    import asyncio
    import time

    from app.main import _watch_loop_lag
    from app.metrics import Metrics

    metrics = Metrics()

    async def go() -> None:
        watcher = asyncio.create_task(_watch_loop_lag(metrics, 0.02))
        await asyncio.sleep(0.1)  # a few idle intervals
        time.sleep(0.3)  # a handler that holds the loop: the timer fires ~0.28 s late
        await asyncio.sleep(0.1)
        watcher.cancel()

    asyncio.run(go())
    child = metrics.event_loop_lag.labels()
    assert sum(child.counts) >= 4
    assert child.counts[-1] == 0  # nothing past 5 s
    late = sum(c for b, c in zip(child.bounds, child.counts, strict=False) if b > 0.1)
    assert late == 1, child.counts  # exactly the one blocked interval landed in (0.25, 0.5]
    assert 0.25 <= child.sum < 0.6


def test_the_lag_watcher_runs_in_the_server(client):
    import time

    time.sleep(0.6)  # CTR_EVENT_LOOP_LAG_INTERVAL_SECONDS defaults to 0.25 s
    assert sample(client.get("/metrics").text, "ctr_event_loop_lag_seconds_count") >= 1
