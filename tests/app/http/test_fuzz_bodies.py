"""Whole bodies no client should send — any JSON value, any bytes, wrong content types, odd methods — are
never a 5xx, through the pure-ASGI front and through FastAPI's routes alike, and every error is the one
error body (``load_tests.fuzz_inputs.error_problem``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.fuzz_inputs import dumps, error_problem, json_values
from tests.app.http.conftest import GOOD

PATHS = ["/v1/score", "/v1/rank", "/v1/feedback"]
FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1", ""]
)  # fmt: skip
TOP_KEYS = st.sampled_from(
    ["records", "columns", "context", "candidates", "candidate_ids", "events", "request_id", "row", "clicked",
     "top_k", "explain", "report_oov", "unknown_ids", "ts", "x", ""]
)  # fmt: skip


def parsed(content: bytes):
    try:
        return json.loads(content)
    except ValueError:
        return None


def assert_answered(response, content: bytes, known=()) -> None:
    """Not a 5xx; an error is the one error body (a 422 about an object names one of its keys or ``known``)."""
    assert response.status_code < 500, (response.status_code, response.text, content[:300])
    problem = error_problem(response.status_code, response.headers, response.content, parsed(content), known)
    assert problem is None, (problem, content[:300])


@pytest.mark.parametrize("hot_path", [True, False], ids=["front", "routes"])
@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(value=json_values(wire=False), ascii=st.booleans(), media=CONTENT_TYPES)
def test_any_json_value_as_the_body(fuzz_clients, known_keys, hot_path, path, value, ascii, media):
    content = dumps(value, ascii=ascii)  # NaN, Infinity, lone surrogates: not JSON, so a 400
    response = fuzz_clients[hot_path].post(path, content=content, headers={"content-type": media} if media else {})
    assert_answered(response, content, known_keys[path])


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(body=st.dictionaries(TOP_KEYS, json_values(), min_size=1, max_size=4))
def test_any_object_of_known_and_unknown_keys(fuzz_client, known_keys, path, body):
    content = dumps(body)
    response = fuzz_client.post(path, content=content, headers={"content-type": "application/json"})
    assert_answered(response, content, known_keys[path])


@pytest.mark.parametrize("hot_path", [True, False], ids=["front", "routes"])
@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(content=st.binary(max_size=200), media=CONTENT_TYPES)
def test_any_bytes_as_the_body(fuzz_clients, known_keys, hot_path, path, content, media):
    response = fuzz_clients[hot_path].post(path, content=content, headers={"content-type": media} if media else {})
    assert response.status_code in (400, 422), response.text  # some bytes are JSON ("1", "[]"): a 422 then
    assert_answered(response, content, known_keys[path])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("cut", [1, 7, 20])
def test_a_truncated_valid_body_is_a_400(fuzz_client, path, cut):
    body = {"/v1/score": {"records": [GOOD]}, "/v1/rank": {"context": {"user": 1}, "candidates": [{"item": 2}]},
            "/v1/feedback": {"request_id": "r", "row": 0, "clicked": True}}[path]  # fmt: skip
    content = dumps(body)[:-cut]
    response = fuzz_client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"
    assert_answered(response, content)


@pytest.mark.parametrize("hot_path", [True, False], ids=["front", "routes"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", PATHS)
def test_other_methods_on_the_post_endpoints_are_405_in_the_error_body(fuzz_clients, hot_path, method, path):
    response = fuzz_clients[hot_path].request(method, path, content=b"{}")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "detail": "Method Not Allowed", "field": None}
