"""Any JSON value in any field of a request, through the app as deployed: a score or a 422 naming that field.

Every field kind (tests/app/http/conftest.py: int and string ids, transforms, lists, separated strings,
given weights, bucketed and log numbers) gets values from ``load_tests.fuzz_inputs.json_values`` —
nested lists and objects, integers far past 64 bits, any unicode text — in /v1/score records and
columns, in /v1/rank contexts, candidate objects and candidate ids, and in /v1/feedback events.
The answer is never a 5xx, and a 4xx is the one error body naming the key that holds the value.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from load_tests.fuzz_inputs import dumps, error_problem, json_values
from tests.app.http.conftest import EVERY_KIND_SCHEMA, GOOD

SOURCES = sorted({f.get("source", f["name"]) for f in EVERY_KIND_SCHEMA["fields"]})
SIDE = {f.get("source", f["name"]): f.get("side", "context") for f in EVERY_KIND_SCHEMA["fields"]}
FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
JSON = {"content-type": "application/json"}


def beyond_double(value) -> bool:
    """Whether a JSON value holds an integer no double can hold (orjson refuses such a body: a 400)."""
    if isinstance(value, dict):
        return any(beyond_double(v) for v in value.values())
    if isinstance(value, list):
        return any(beyond_double(v) for v in value)
    return type(value) is int and abs(value) > 1.7976931348623157e308


def check(response, sent, field: str) -> None:
    """200, or a 422 in the one error body that names ``field`` (a 400 for a number past any double)."""
    if response.status_code == 400 and beyond_double(sent):
        assert response.json()["error"] == "malformed_json"
        return
    assert response.status_code in (200, 422), (response.status_code, response.text, sent)
    if response.status_code == 200 and "probabilities" in response.json():  # a score is a probability, never null
        scores = [p for p in response.json()["probabilities"] if p is not None or not sent.get("candidate_ids")]
        assert all(isinstance(p, float) and 0 <= p <= 1 for p in scores), (response.text, sent)
    assert error_problem(response.status_code, response.headers, response.content, sent) is None, response.text
    if response.status_code == 422:
        assert response.json()["field"] == field, (response.text, sent)


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(value=json_values(), form=st.sampled_from(["records", "columns"]), explain=st.booleans())
def test_score_answers_any_value_of_a_field_or_names_it(fuzz_client, source, value, form, explain):
    record = {**GOOD, source: value}
    if form == "records":
        body = {"records": [record, GOOD], "explain": explain, "report_oov": True}
    else:
        body = {"columns": {key: [v, GOOD.get(key)] for key, v in record.items()}, "explain": explain}
    check(fuzz_client.post("/v1/score", content=dumps(body), headers=JSON), body, source)


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(value=json_values(), explain=st.booleans(), by_id=st.booleans())
def test_rank_answers_any_value_of_a_field_or_names_it(fuzz_client, source, value, explain, by_id):
    context = {"user": GOOD["user"]}
    candidate = {"item": GOOD["item"]}
    (context if SIDE[source] == "context" else candidate)[source] = value
    body = {"context": context, "candidates": [candidate, {"item": 2}], "explain": explain, "top_k": 2}
    if by_id:
        body["candidate_ids"] = [1, "7"]
    check(fuzz_client.post("/v1/rank", content=dumps(body), headers=JSON), body, source)


@FUZZ
@given(ids=st.lists(json_values(), min_size=1, max_size=4), unknown=st.sampled_from(["score", "skip"]))
def test_rank_answers_any_candidate_ids_or_names_them(fuzz_client, ids, unknown):
    body = {"context": {"user": 1}, "candidate_ids": ids, "unknown_ids": unknown, "explain": True, "top_k": 3}
    check(fuzz_client.post("/v1/rank", content=dumps(body), headers=JSON), body, "candidate_ids")


@pytest.mark.parametrize("key", ["request_id", "row", "clicked", "ts"])
@FUZZ
@given(value=json_values(), batched=st.booleans())
def test_feedback_answers_any_value_of_an_event_key_or_names_it(fuzz_client, key, value, batched):
    event = {"request_id": "7dd838ed0c991fbb9782bbead85b07c2", "row": 0, "clicked": True, key: value}
    body = {"events": [event]} if batched else event
    check(fuzz_client.post("/v1/feedback", content=dumps(body), headers=JSON), body, key)


@pytest.mark.parametrize("path", ["/v1/score", "/v1/rank"])
@FUZZ
@given(record=json_values())
def test_a_record_that_is_not_an_object_is_a_422_naming_its_list(fuzz_client, path, record):
    if isinstance(record, dict):
        return
    body = {"records": [GOOD, record]} if path == "/v1/score" else {"context": {"user": 1}, "candidates": [record]}
    response = fuzz_client.post(path, content=dumps(body), headers=JSON)
    check(response, body, "records" if path == "/v1/score" else "candidates")
    assert response.status_code == 422 or beyond_double(record)


@pytest.mark.parametrize("weight", [1e19, 1e30, 3.5e38, 1e308, -1e308])
@pytest.mark.parametrize("hot_path", [True, False], ids=["front", "routes"])
def test_a_huge_finite_weight_is_a_probability_or_a_422_naming_its_field(fuzz_clients, hot_path, weight):
    """Weights are float32 in the model: one past its range (or whose products overflow it) must not
    come back as a null probability or a NaN explanation."""
    client = fuzz_clients[hot_path]
    score = {"records": [{**GOOD, "terms": {"gpu": weight}}], "explain": True}
    response = client.post("/v1/score", content=dumps(score), headers=JSON)
    check(response, score, "terms")
    rank = {"context": {"user": 1}, "candidates": [{"item": 2, "attrs": {"red": weight}}], "explain": True}
    response = client.post("/v1/rank", content=dumps(rank), headers=JSON)
    check(response, rank, "attrs")
    if response.status_code == 200:
        parts = response.json()["explanations"][0]
        assert all(isinstance(v, float) for v in (parts["logit"], parts["bias"], *parts["linear"].values()))


@pytest.mark.parametrize("top_k", [2.0, 1e3])
def test_an_integral_float_is_an_integer_for_top_k_and_row(fuzz_client, top_k):
    """JSON Schema's integers include 2.0, and schemathesis sends them: lossless, like ids (decisions 13)."""
    body = {"context": {"user": 1}, "candidates": [{"item": 2}, {"item": 3}], "top_k": top_k}
    response = fuzz_client.post("/v1/rank", content=dumps(body), headers=JSON)
    assert response.status_code == 200 and len(response.json()["top_indices"]) == 2
    for bad in (1.5, 0.0, -2.0, 1e19):
        check(fuzz_client.post("/v1/rank", content=dumps({**body, "top_k": bad}), headers=JSON), body, "top_k")
    event = {"request_id": "r", "row": 3.0, "clicked": True}
    assert fuzz_client.post("/v1/feedback", content=dumps(event), headers=JSON).status_code == 200
    response = fuzz_client.post("/v1/feedback", content=dumps({**event, "row": 0.5}), headers=JSON)
    assert response.status_code == 422 and response.json()["field"] == "row"


@pytest.mark.parametrize("raw", [2**64 + 1, 349759679708803654776814305280, 1e30])
def test_an_id_that_json_numbers_cannot_hold_exactly_is_a_422(fuzz_client, raw):
    """Past 2**64 orjson reads an integer as a float, whose digits are not the ones sent: no lossless id."""
    score = {"records": [{"user": 1, "item": raw}]}
    response = fuzz_client.post("/v1/score", content=dumps(score), headers=JSON)
    assert response.status_code == 422 and response.json()["field"] == "item", response.text
    rank = {"context": {"user": 1}, "candidate_ids": [raw]}
    response = fuzz_client.post("/v1/rank", content=dumps(rank), headers=JSON)
    assert response.status_code == 422 and response.json()["field"] == "candidate_ids", response.text
