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
    assert sample(text, "ctr_scored_rows_total") == 6
    assert sample(text, "ctr_inference_duration_seconds_count") == 3
    assert sample(text, "ctr_request_errors_total", code="invalid_request") == 1
    assert sample(text, "ctr_model_info", name="tiny", version=artifact_path.name) == 1
    assert sample(text, "ctr_model_ready") == 1
    assert "_created" not in text


def test_each_app_has_its_own_registry(make_client, sample_records):
    first, second = make_client(), make_client()
    post(first, {"records": sample_records[:1]})
    text = second.get("/metrics").text
    assert 'ctr_http_requests_total{endpoint="/v1/score"' not in text
