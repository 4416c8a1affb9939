"""Over HTTP: scored rows reach the impression log; /v1/feedback validates, logs, and says when it is off."""

import json

import pytest

from tests.app.conftest import post
from tests.app.http.test_routes import assert_error


@pytest.fixture
def logged(make_client, tmp_path):
    return make_client(impression_log="file", impression_dir=tmp_path / "logs"), tmp_path / "logs"


def lines(root, stream):
    return [json.loads(line) for p in sorted(root.rglob(f"{stream}-*.jsonl")) for line in p.read_text().splitlines()]


def test_scored_rows_and_feedback_are_logged(logged, sample_records, artifact_path):
    client, root = logged
    answer = post(client, {"records": sample_records[:3]}, headers={"x-request-id": "req-1"}).json()
    columns = {k: [r.get(k) for r in sample_records[3:5]] for k in sample_records[0]}
    post(client, {"columns": columns}, headers={"x-request-id": "req-2"})
    events = [{"request_id": "req-1", "row": 1, "clicked": True, "ts": 1764756000},
              {"request_id": "req-2", "row": 0, "clicked": 0}]  # fmt: skip
    response = post(client, {"events": events}, path="/v1/feedback")
    assert response.status_code == 200 and response.json()["accepted"] == 2
    client.__exit__(None, None, None)  # shutdown flushes the queue and closes the segments
    impressions = lines(root, "impressions")
    assert [(r["request_id"], r["row"]) for r in impressions] == [("req-1", 0), ("req-1", 1), ("req-1", 2),
                                                                  ("req-2", 0), ("req-2", 1)]  # fmt: skip
    assert [r["fields"] for r in impressions] == sample_records[:3] + [
        {k: v for k, v in r.items()} for r in sample_records[3:5]]  # fmt: skip
    assert [r["probability"] for r in impressions[:3]] == pytest.approx(answer["probabilities"])
    assert {r["model_version"] for r in impressions} == {artifact_path.name}
    feedback = lines(root, "feedback")
    assert [(f["request_id"], f["row"], f["clicked"]) for f in feedback] == [("req-1", 1, True), ("req-2", 0, False)]
    assert feedback[0]["ts"] == 1764756000.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_id": "r", "row": -1, "clicked": True}, "row"),
        ({"request_id": "r", "row": True, "clicked": True}, "row"),
        ({"request_id": "", "row": 0, "clicked": True}, "request_id"),
        ({"request_id": "r", "row": 0, "clicked": "yes"}, "clicked"),
        ({"request_id": "r", "row": 0, "clicked": True, "ts": "today"}, "ts"),
        ({"request_id": "r", "row": 0, "clicked": True, "extra": 1}, "extra"),
        ({"events": []}, "events"),
        ({"events": [{"request_id": "r", "row": 0}]}, "clicked"),
        ({"events": [1]}, "events"),
    ],
)
def test_bad_feedback_is_a_422_naming_the_field(logged, body, field):
    client, _ = logged
    assert_error(post(client, body, path="/v1/feedback"), 422, "invalid_request", field)


def test_feedback_when_the_log_is_off_says_so(client):
    body = assert_error(post(client, {"request_id": "r", "row": 0, "clicked": True}, path="/v1/feedback"), 404,
                        "not_found", None)  # fmt: skip
    assert "CTR_IMPRESSION_LOG" in body["detail"]


@pytest.mark.redis
def test_the_redis_stream_log_is_pulled_into_files_ctr_join_reads(make_client, sample_records, tmp_path, monkeypatch):
    from cli import main
    from tests.app.redis_helpers import SHARED_URL, delete_model, unique_model

    model = unique_model()
    monkeypatch.setenv("CTR_REDIS_URL", SHARED_URL)
    try:
        client = make_client(impression_log="redis", redis_url=SHARED_URL, redis_model=model)
        for i in range(3):
            post(client, {"records": sample_records[:4]}, headers={"x-request-id": f"req-{i}"})
        post(client, {"request_id": "req-1", "row": 2, "clicked": True}, path="/v1/feedback")
        client.__exit__(None, None, None)
        out = tmp_path / "pulled"
        for _ in range(2):  # a second pull finds nothing new: entries were acknowledged
            assert main(["impressions", "pull", "--model", model, "--out", str(out)]) == 0
        assert [(r["request_id"], r["row"]) for r in lines(out, "impressions")] == [
            (f"req-{i}", row) for i in range(3) for row in range(4)]  # fmt: skip
        assert [(f["request_id"], f["row"]) for f in lines(out, "feedback")] == [("req-1", 2)]
    finally:
        delete_model(SHARED_URL, model)
