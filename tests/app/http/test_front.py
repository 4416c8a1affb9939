"""The pure-ASGI front (app.http.front) answers exactly what the FastAPI routes answer."""

import pytest

from app.http import front
from tests.app.conftest import post

ID = {"x-request-id": "same-id"}


def rank_body(records):
    context = {k: v for k, v in records[0].items() if k in ("user", "device")}
    candidates = [{k: v for k, v in r.items() if k not in context} for r in records[:4]]
    return {"context": context, "candidates": candidates, "top_k": 2, "explain": True}


def bodies(records):
    yield "/v1/score", {"records": records[:3]}
    yield "/v1/score", {"records": records[:2], "report_oov": True, "explain": True}
    yield "/v1/score", {"columns": {"user": [1, 2], "price": [30, "x"]}}  # 422 on price
    yield "/v1/score", {"records": [{"user": 1, "colour": "red"}]}  # 422 unknown field
    yield "/v1/score", b"{not json"
    yield "/v1/score", {"records": []}
    yield "/v1/rank", rank_body(records)
    yield "/v1/rank", {"context": {"user": 1, "item": 1}, "candidates": [{"item": 2}]}  # wrong side


@pytest.fixture
def both(make_client):
    return make_client(hot_path=True), make_client(hot_path=False)


def test_every_answer_is_the_routes_answer(both, sample_records):
    fast, routed = both
    for path, body in bodies(sample_records):
        a, b = post(fast, body, ID, path=path), post(routed, body, ID, path=path)
        assert (a.status_code, a.content) == (b.status_code, b.content), (path, body)
        assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        if a.status_code == 200:
            assert a.headers["x-request-id"] == "same-id"


def test_a_fresh_request_id_when_the_client_sends_none_or_a_bad_one(both, sample_records):
    fast, _ = both
    first = post(fast, {"records": sample_records[:1]}).json()["request_id"]
    second = post(fast, {"records": sample_records[:1]}, {"x-request-id": "x" * 500}).json()["request_id"]
    assert len(first) == len(second) == 32 and first != second
    int(first, 16)


def test_body_limits_are_enforced(make_client, sample_records):
    fast = make_client(max_body_bytes=1024)
    big = {"records": sample_records * 20}
    assert post(fast, big).status_code == 413  # declared Content-Length
    chunks = (b'{"records": [' + b'{"user": 1},' * 200 + b"{}]}" for _ in range(1))
    response = post(fast, chunks)  # chunked: no Content-Length, counted while reading
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"


def test_requests_and_errors_are_counted(both, sample_records):
    fast, _ = both
    post(fast, {"records": sample_records[:1]})
    post(fast, {"records": []})
    text = fast.get("/metrics").text
    assert 'ctr_http_requests_total{endpoint="/v1/score",method="POST",status="200"} 1.0' in text
    assert 'ctr_http_requests_total{endpoint="/v1/score",method="POST",status="422"} 1.0' in text
    assert 'ctr_request_errors_total{code="invalid_request"} 1.0' in text


def test_a_bug_is_a_generic_500_and_the_server_keeps_serving(both, sample_records, monkeypatch, caplog):
    fast, _ = both

    async def broken(state, body, rid):
        raise RuntimeError("secret internals")

    monkeypatch.setitem(front.HANDLERS, "/v1/score", broken)
    response = post(fast, {"records": sample_records[:1]})
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "detail": "internal error; see the server log", "field": None}
    assert "secret internals" not in response.text and "secret internals" in caplog.text
    monkeypatch.undo()
    assert post(fast, {"records": sample_records[:1]}).status_code == 200


def test_other_paths_and_methods_go_to_fastapi(both):
    fast, _ = both
    assert fast.get("/v1/score").status_code == 405
    assert fast.get("/healthz").json() == {"status": "ok"}
    assert "/v1/score" in fast.get("/openapi.json").json()["paths"]
