"""The OpenAPI schema documents the loaded model: its examples are accepted, every answer is described (16.9)."""

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.app.conftest import post, post_rank


def test_the_examples_come_from_the_loaded_schema_and_score(client):
    paths = client.get("/openapi.json").json()["paths"]
    score = paths["/v1/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    rank = paths["/v1/rank"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    record = score["example"]["records"][0]
    assert set(record) == {"user", "device", "item", "price", "tags"}  # the tiny schema's fields, not MovieLens'
    assert "user_id" not in str(score) and "genres" not in str(rank)
    assert post(client, score["example"]).status_code == 200
    assert post_rank(client, rank["example"]).status_code == 200
    items = score["properties"]["records"]["items"]
    assert items["required"] == ["item", "user"] and items["additionalProperties"] is False
    assert set(rank["properties"]["context"]["properties"]) == {"user", "device"}


def test_every_answer_is_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/score", "/v1/rank"):
        responses = paths[path]["post"]["responses"]
        assert {"200", "400", "413", "422", "503"} <= set(responses)
        assert "probabilities" in responses["200"]["content"]["application/json"]["schema"]["properties"]
        assert "CTR_MAX_BODY_BYTES" in responses["413"]["description"]
    assert {"200", "503"} <= set(paths["/readyz"]["get"]["responses"])
    assert {"200", "503"} <= set(paths["/v1/model"]["get"]["responses"])


def test_the_schema_follows_the_served_model(interleaved_artifact, tmp_path):
    with TestClient(create_app(Settings(model_dir=interleaved_artifact))) as c:
        schema = c.get("/openapi.json").json()["paths"]["/v1/score"]["post"]["requestBody"]
        example = schema["content"]["application/json"]["schema"]["example"]
        assert set(example["records"][0]) == {"item", "user", "genres", "history", "hour", "brand"}
        assert post(c, example).status_code == 200
    with TestClient(create_app(Settings(model_dir=tmp_path / "none", model_poll_seconds=60))) as c:
        assert c.get("/openapi.json").status_code == 200  # no model yet: the envelope only


def test_the_documented_value_patterns_are_values_the_contract_reads():
    """What /openapi.json promises is accepted, so schemathesis' positive examples reach scoring (issue 20)."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from app.http.openapi import INT_TEXT, NUMBER_TEXT, REQUEST_ID
    from contract.schema import FieldSpec
    from contract.values import ValueParser

    int_id = ValueParser(FieldSpec(name="user", dtype="int"))
    number = ValueParser(FieldSpec(name="price", kind="numeric", boundaries=(1.0,)))

    @settings(max_examples=200, derandomize=True)
    @given(st.from_regex(INT_TEXT), st.from_regex(NUMBER_TEXT))
    def accepted(id_text: str, number_text: str) -> None:
        assert int_id.canonical(id_text) is not None
        assert number.number(number_text) is not None

    accepted()
    latin1 = [chr(c) for c in range(256)]
    assert [c for c in latin1 if re.match(REQUEST_ID, c)] == [c for c in latin1 if c.isprintable()]
