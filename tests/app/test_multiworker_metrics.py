"""Two uvicorn workers, one /metrics: the scraped totals are the sums over both workers.

Before multiprocess metrics, 20 requests to a 2-worker server showed as 11 or 9 depending on which
worker answered the scrape. These tests start the real server through ``ctr serve --workers 2``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from app.cli.serve import prepare_metrics_dir
from load_tests.server import ServerProcess

N = 40


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return response.read().decode()


def value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not exposed"
    return float(match.group(1))


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}/v1/score", json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # a new connection each time
        return json.loads(response.read())


@pytest.fixture
def two_workers(artifact_path, tmp_path):
    server = ServerProcess({"CTR_MODEL_DIR": str(artifact_path), "CTR_METRICS_DIR": str(tmp_path / "metrics"),
                            "CTR_SERVED_METRICS": "true"},
                           workers=2)  # fmt: skip
    server.start(timeout=90)
    yield server
    server.stop()


def test_totals_and_histogram_counts_cover_both_workers(two_workers, sample_records, tmp_path):
    url = two_workers.url
    bodies = [{"records": sample_records[i % 10 : i % 10 + 1 + i % 3]} for i in range(N)]
    rows = sum(len(body["records"]) for body in bodies)
    with ThreadPoolExecutor(4) as pool:  # concurrent connections: while one worker is busy, the other accepts
        answers = list(pool.map(lambda body: post(url, body), bodies))
    assert all(len(a["probabilities"]) == len(b["records"]) for a, b in zip(answers, bodies, strict=True))
    # each worker writes its counts every CTR_METRICS_FLUSH_SECONDS (1 s); the answering one before the scrape
    deadline = time.monotonic() + 10
    while True:
        text = scrape(url)
        done = value(text, 'ctr_http_requests_total{endpoint="/v1/score",method="POST",status="200"}')
        if done == N or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done == N
    for stage in ("parse", "encode", "lookup", "inference", "serialise"):
        assert value(text, f'ctr_stage_duration_seconds_count{{endpoint="/v1/score",stage="{stage}"}}') == N
    assert value(text, 'ctr_http_request_duration_seconds_count{endpoint="/v1/score"}') == N
    assert value(text, "ctr_request_rows_count") == N
    assert value(text, "ctr_request_rows_sum") == rows
    assert value(text, 'ctr_scored_rows_total{endpoint="/v1/score"}') == rows
    version = artifact_version(text)
    assert value(text, f'ctr_served_probability_count{{version="{version}"}}') == rows
    assert value(text, f'ctr_served_probability_bucket{{le="+Inf",version="{version}"}}') == rows
    assert value(text, "ctr_model_ready") == 1
    # the event-loop lag watcher of each worker observes every CTR_EVENT_LOOP_LAG_INTERVAL_SECONDS (0.25 s)
    assert value(text, "ctr_event_loop_lag_seconds_count") >= 2
    # both workers answered requests (each file is one worker's), so the total needed both
    per_worker = []
    for path in (tmp_path / "metrics").glob("counter_*.db"):
        samples = MultiProcessCollector.merge([str(path)], accumulate=False)
        per_worker.append(sum(s.value for m in samples if m.name == "ctr_http_requests" for s in m.samples
                              if s.labels.get("endpoint") == "/v1/score"))  # fmt: skip
    assert len(per_worker) == 2 and all(0 < n < N for n in per_worker), per_worker
    assert sum(per_worker) == N


def artifact_version(text: str) -> str:
    match = re.search(r'^ctr_model_info\{[^}]*version="([^"]+)"\} 1\.0$', text, re.MULTILINE)
    assert match, "ctr_model_info not exposed"
    return match.group(1)


def test_the_launcher_empties_the_metrics_directory_of_old_files(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "notes.txt").write_text("not ours")
    assert prepare_metrics_dir(directory) == directory
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]
    fresh = prepare_metrics_dir(None)  # no directory configured: a new temporary one
    assert fresh.is_dir() and not any(fresh.iterdir())
    fresh.rmdir()


def test_several_workers_without_a_metrics_directory_are_refused(monkeypatch, artifact_path):
    from app.main import create_app
    from app.settings import Settings

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        create_app(Settings(model_dir=artifact_path, workers=2))
