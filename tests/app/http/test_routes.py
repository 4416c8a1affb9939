import numpy as np
import pytest

from tests.app.conftest import post


def assert_error(response, status, code, field):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "field"}
    assert body["error"] == code
    assert body["field"] == field
    assert body["detail"]
    return body


def test_score_records(client, sample_records, artifact_path):
    response = post(client, {"records": sample_records})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == artifact_path.name
    assert len(body["probabilities"]) == len(sample_records)
    assert all(0 < p < 1 for p in body["probabilities"])
    assert len(body["request_id"]) == 32
    assert "oov_fields" not in body


def test_columns_form_gives_the_same_scores(client, sample_records):
    columns = {key: [r.get(key) for r in sample_records] for key in sample_records[0]}
    by_rows = post(client, {"records": sample_records}).json()["probabilities"]
    by_columns = post(client, {"columns": columns}).json()["probabilities"]
    assert by_rows == by_columns


def test_scores_do_not_depend_on_batch_composition(client, sample_records):
    together = post(client, {"records": sample_records}).json()["probabilities"]
    alone = [post(client, {"records": [r]}).json()["probabilities"][0] for r in sample_records[:5]]
    np.testing.assert_allclose(alone, together[:5], atol=1e-7)


def test_request_id_is_echoed(client, sample_records):
    response = post(client, {"records": sample_records[:1]}, headers={"x-request-id": "abc-123"})
    assert response.json()["request_id"] == "abc-123"
    assert response.headers["x-request-id"] == "abc-123"


def test_report_oov(client):
    body = post(client, {"records": [{"user": 999999, "item": 1, "device": "WEB"}], "report_oov": True}).json()
    assert body["oov_fields"] == [["user", "price", "tags"]]


def test_large_batches_are_offloaded_and_still_correct(make_client, sample_records):
    inline = make_client()
    offloaded = make_client(offload_rows=2)
    body = {"records": sample_records}
    assert post(inline, body).json()["probabilities"] == post(offloaded, body).json()["probabilities"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{not json", 400, "malformed_json", None),
        ([1, 2], 422, "invalid_request", None),
        ({"records": [{"user": 1, "item": 2}], "extra": 1}, 422, "invalid_request", "extra"),
        ({}, 422, "invalid_request", "records"),
        ({"records": [], "columns": {}}, 422, "invalid_request", "records"),
        ({"records": []}, 422, "invalid_request", "records"),
        ({"records": {"user": 1}}, 422, "invalid_request", "records"),
        ({"records": [5]}, 422, "invalid_request", "records"),  # issue 20: the list that holds it
        ({"records": [{"user": 1, "item": 2, "colour": "red"}]}, 422, "invalid_request", "colour"),
        ({"records": [{"item": 2}]}, 422, "invalid_request", "user"),
        ({"records": [{"user": 1, "item": 2, "price": "cheap"}]}, 422, "invalid_request", "price"),
        ({"records": [{"user": [1], "item": 2}]}, 422, "invalid_request", "user"),
        ({"records": [{"user": 1, "item": 2, "tags": ["a", "b", "c", "d"]}]}, 422, "invalid_request", "tags"),
        ({"records": [{"user": 1, "item": 2}], "report_oov": "yes"}, 422, "invalid_request", "report_oov"),
        ({"columns": {"user": [1, 2], "item": [1]}}, 422, "invalid_request", "item"),
        ({"columns": {"user": [1], "nope": [1]}}, 422, "invalid_request", "nope"),
        ({"columns": {"user": 1}}, 422, "invalid_request", "user"),
        ({"columns": {"user": [], "item": []}}, 422, "invalid_request", "columns"),
    ],
)
def test_bad_requests_get_a_clear_error(client, body, status, code, field):
    assert_error(post(client, body), status, code, field)


def test_record_limit(make_client):
    client = make_client(max_records=2)
    records = [{"user": 1, "item": 2}] * 3
    body = assert_error(post(client, {"records": records}), 422, "invalid_request", "records")
    assert "limit of 2" in body["detail"]
    assert post(client, {"records": records[:2]}).status_code == 200


def test_body_limit(make_client):
    client = make_client(max_body_bytes=1024)
    big = {"records": [{"user": 1, "item": 2, "device": "x" * 2000}]}
    assert_error(post(client, big), 413, "payload_too_large", None)

    def chunks():  # no content-length: the limit must hold on the stream too
        yield b'{"records": [{"user": 1, "item": 2, "device": "'
        yield b"x" * 2000
        yield b'"}]}'

    assert_error(post(client, chunks()), 413, "payload_too_large", None)


def test_a_bad_request_does_not_disturb_the_next(client, sample_records):
    before = post(client, {"records": sample_records[:3]}).json()["probabilities"]
    for bad in (b"{", b'{"records": [{"user": true}]}', b"[]"):
        assert post(client, bad).status_code in (400, 422)
    assert post(client, {"records": sample_records[:3]}).json()["probabilities"] == before


def test_unknown_route_and_method(client):
    assert_error(client.get("/nope"), 404, "not_found", None)
    assert_error(client.get("/v1/score"), 405, "method_not_allowed", None)


def test_model_endpoint_describes_the_contract(client, artifact_path):
    body = client.get("/v1/model").json()
    assert body["version"] == artifact_path.name
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["user"]["required"] and fields["user"]["side"] == "context"
    assert fields["tags"]["max_length"] == 3 and fields["tags"]["side"] == "candidate"
    assert fields["tags"]["weighting"] == "one"  # clients must know whether a field takes {value: weight}
    assert body["limits"]["max_records"] == 4096


def test_health_and_readiness(client, artifact_path):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model_version": artifact_path.name}


def test_not_ready_without_a_model(tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings

    with TestClient(create_app(Settings(model_dir=tmp_path / "missing", model_poll_seconds=60))) as client:
        assert client.get("/healthz").status_code == 200
        body = assert_error(client.get("/readyz"), 503, "not_ready", None)
        assert "no active model version" in body["detail"] and str(tmp_path) not in body["detail"]
        assert_error(post(client, {"records": [{"user": 1}]}), 503, "not_ready", None)
        assert "ctr_model_load_failures_total 1.0" in client.get("/metrics").text


def test_a_503_never_echoes_an_exception_text(artifact_path, monkeypatch, caplog):
    """Paths, addresses, anything an exception holds stays in the log (issue 16.5)."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.scoring.model import ScoringModel
    from app.settings import Settings

    def explode(*args, **kwargs):
        raise RuntimeError("cannot open /srv/secret/model.onnx via 10.1.2.3:9000")

    monkeypatch.setattr(ScoringModel, "from_artifact", explode)
    settings = Settings(model_dir=artifact_path.parent, model_poll_seconds=60)
    with caplog.at_level("ERROR"), TestClient(create_app(settings)) as c:
        for response in (c.get("/readyz"), post(c, {"records": [{"user": 1}]})):
            body = assert_error(response, 503, "not_ready", None)
            assert "/srv/secret" not in body["detail"] and "10.1.2.3" not in body["detail"]
            assert "RuntimeError" not in body["detail"]
    assert "/srv/secret/model.onnx via 10.1.2.3:9000" in caplog.text


def test_limit_errors_name_the_setting_that_sets_the_limit(make_client, sample_records):
    small = make_client(max_records=2, max_body_bytes=2048)
    too_many = assert_error(post(small, {"records": sample_records[:3]}), 422, "invalid_request", "records")
    assert "CTR_MAX_RECORDS" in too_many["detail"]
    too_big = assert_error(post(small, {"records": [{"user": "x" * 4000}]}), 413, "payload_too_large", None)
    assert "CTR_MAX_BODY_BYTES" in too_big["detail"]
