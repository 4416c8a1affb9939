"""The body budget and the disconnect accounting of the pure-ASGI front, in-process (app.http.front).

The real-server behaviour (408, idle closes, 503 under concurrent maximum bodies, SIGTERM) is
tested against a running ``ctr serve`` in tests/load_tests/test_abuse.py.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from app.settings import Settings
from tests.app.conftest import post


def call(app, body_messages):
    """Run one POST /v1/score through the app's ASGI entry with the given receive messages."""
    sent: list[dict] = []
    messages = iter(body_messages)

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/score", "headers": [(b"content-length", b"100")],
             "query_string": b""}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_budget_smaller_than_one_body_is_refused(artifact_path):
    with pytest.raises(ValidationError, match="CTR_BODY_BUDGET_BYTES"):
        Settings(model_dir=artifact_path, max_body_bytes=4096, body_budget_bytes=2048)


def test_a_client_gone_mid_body_is_counted_499_and_frees_its_budget(make_client):
    client = make_client()
    app = client.app
    front = app.front.app  # MetricsMiddleware -> HotPath
    free = front.budget_free
    sent = call(app, [{"type": "http.request", "body": b'{"rec', "more_body": True}, {"type": "http.disconnect"}])
    assert sent == []  # nobody to answer
    assert front.budget_free == free
    text = client.get("/metrics").text
    assert 'ctr_http_requests_total{endpoint="/v1/score",method="POST",status="499"} 1.0' in text
    assert 'status="500"' not in text


def test_past_the_budget_a_body_gets_503_busy_with_retry_after_before_it_is_read(make_client, sample_records):
    client = make_client(max_body_bytes=4096, body_budget_bytes=4096)
    front = client.app.front.app
    front.budget_free = 100  # as if other bodies were in progress
    response = post(client, {"records": sample_records[:3]})
    assert response.status_code == 503
    assert response.json()["error"] == "busy" and "CTR_BODY_BUDGET_BYTES" in response.json()["detail"]
    assert response.headers["retry-after"] == "1" and response.headers["connection"] == "close"
    front.budget_free = 4096
    assert post(client, {"records": sample_records[:3]}).status_code == 200
    assert front.budget_free == 4096  # given back once answered
