"""POST /v1/rank: equivalence with /v1/score on the merged records, sides, limits and errors."""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from app.settings import Settings
from contract.artifact import load_artifact
from contract.encoding import FeatureEncoder
from contract.field import FieldEncoder
from tests.app.conftest import post, post_rank
from tests.app.http.test_routes import assert_error
from tests.conftest import catalog_of

CONTEXT = {"user": 7, "device": "web"}
CANDIDATES = [{"item": 6, "price": 50.0, "tags": ["news", "tech"]}, {"item": 17}, {"item": 999, "tags": "sport"}]


@pytest.fixture(scope="module")
def tiny_client(tiny_trained):
    with TestClient(create_app(Settings(model_dir=tiny_trained[1]))) as client:
        yield client


@pytest.fixture(scope="module")
def interleaved_client(interleaved_artifact):
    with TestClient(create_app(Settings(model_dir=interleaved_artifact))) as client:
        yield client


def merged(context, candidates):
    return [{**context, **candidate} for candidate in candidates]


def scores(client, records):
    response = post(client, {"records": records})
    assert response.status_code == 200, response.text
    return np.array(response.json()["probabilities"], np.float64)


def test_rank_returns_one_probability_per_candidate_in_order(tiny_client, tiny_trained):
    response = post_rank(tiny_client, {"context": CONTEXT, "candidates": CANDIDATES}, {"x-request-id": "r-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"model_version", "request_id", "probabilities"}
    assert body["model_version"] == tiny_trained[1].name
    assert body["request_id"] == "r-1"
    np.testing.assert_allclose(body["probabilities"], scores(tiny_client, merged(CONTEXT, CANDIDATES)), atol=1e-6)
    reversed_body = post_rank(tiny_client, {"context": CONTEXT, "candidates": CANDIDATES[::-1]}).json()
    np.testing.assert_allclose(reversed_body["probabilities"][::-1], body["probabilities"], atol=1e-7)


def test_top_k_gives_the_best_indices_sorted_by_score(tiny_client):
    candidates = [{"item": i, "tags": ["news"] if i % 2 else ["sport", "food"]} for i in range(1, 41)]
    body = post_rank(tiny_client, {"context": CONTEXT, "candidates": candidates, "top_k": 5}).json()
    p = np.array(body["probabilities"])
    assert len(p) == 40
    assert body["top_indices"] == np.argsort(-p, kind="stable")[:5].tolist()
    assert len(set(p.tolist())) > 5  # the order above is not a tie-break artefact
    everything = post_rank(tiny_client, {"context": CONTEXT, "candidates": candidates[:3], "top_k": 10}).json()
    assert sorted(everything["top_indices"]) == [0, 1, 2]


# -- exact equivalence, property-based ---------------------------------------------------------------


def value_strategy(field: FieldEncoder) -> st.SearchStrategy:
    spec = field.spec

    def category() -> st.SearchStrategy:
        if spec.dtype == "int":
            known = st.sampled_from([int(v) for v in field.vocabulary]) | st.sampled_from(field.vocabulary)
            return known | st.integers(10_000, 10**9)  # unseen ids
        known = st.sampled_from(field.vocabulary)
        if spec.transform == "lower":
            known = known | known.map(str.upper)
        return known | st.text("xyz", min_size=1, max_size=4)  # unseen values

    if spec.kind == "numeric":
        return st.floats(-1e3, 1e3, allow_nan=False) | st.integers(-50, 50)
    if spec.kind == "multi_categorical":
        items = st.lists(category(), min_size=1, max_size=spec.max_length)
        if spec.separator:
            strings = [v for v in field.vocabulary if spec.separator not in v]
            joined = st.lists(st.sampled_from(strings), min_size=1, max_size=spec.max_length)
            items = items | joined.map(spec.separator.join)
        return items
    return category()


def side_strategy(encoder: FeatureEncoder, side: str) -> st.SearchStrategy:
    fields = {f.spec.source: f for f in encoder.fields if f.spec.side == side}
    required = {k: value_strategy(f) for k, f in fields.items() if f.spec.required}
    optional = {k: value_strategy(f) | st.none() for k, f in fields.items() if not f.spec.required}
    return st.fixed_dictionaries(required, optional=optional)


def check_equivalence(client, encoder, data):
    context = data.draw(side_strategy(encoder, "context"), label="context")
    candidates = data.draw(st.lists(side_strategy(encoder, "candidate"), min_size=1, max_size=25), label="cands")
    response = post_rank(client, {"context": context, "candidates": candidates, "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    flat = scores(client, merged(context, candidates))
    ranked = np.array(body["probabilities"], np.float64)
    assert np.abs(ranked - flat).max() <= 1e-6
    assert ranked[body["top_indices"]].tolist() == sorted(ranked.tolist(), reverse=True)[:3]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rank_equals_score_on_merged_records_tiny(tiny_client, tiny_trained, data):
    check_equivalence(tiny_client, load_artifact(tiny_trained[1]).encoder, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rank_equals_score_on_merged_records_interleaved_sides(interleaved_client, interleaved_artifact, data):
    check_equivalence(interleaved_client, load_artifact(interleaved_artifact).encoder, data)


# -- ranking by candidate id: catalog items, unknown ids and objects in one request ------------------


@pytest.fixture(scope="module")
def tiny_catalog_client(tiny_catalog_artifact):
    with TestClient(create_app(Settings(model_dir=tiny_catalog_artifact))) as client:
        yield client


@pytest.fixture(scope="module")
def interleaved_catalog_client(interleaved_catalog_artifact):
    with TestClient(create_app(Settings(model_dir=interleaved_catalog_artifact))) as client:
        yield client


def id_strategy(catalog) -> st.SearchStrategy:
    """Catalog ids in every spelling a client may use (int, string, zero-padded, integral float), and unknown ids."""
    keys = [catalog.key(r) for r in range(len(catalog))]
    known = st.sampled_from(keys).flatmap(lambda k: st.sampled_from([k, int(k), "0" + k, float(int(k))]))
    unknown = st.integers(10**6, 10**9) | st.integers(10**6, 10**9).map(str)
    return known | unknown


def check_id_equivalence(client, encoder, catalog, data):
    context = data.draw(side_strategy(encoder, "context"), label="context")
    ids = data.draw(st.lists(id_strategy(catalog), max_size=25), label="ids")
    objects = data.draw(st.lists(side_strategy(encoder, "candidate"), max_size=6), label="objects")
    ids = ids or ([] if objects else [catalog.key(0)])
    skip = data.draw(st.booleans(), label="skip")
    body = {"context": context, "candidate_ids": ids, "unknown_ids": "skip" if skip else "score", "top_k": 3}
    if objects:
        body["candidates"] = objects
    response = post_rank(client, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    keys = {catalog.key(r): r for r in range(len(catalog))}
    rows = [keys.get(catalog.id_field.canonical(raw), -1) for raw in ids]  # the contract's spelling, by hand
    unknown = [i for i, row in enumerate(rows) if row < 0]
    assert answer["unknown_indices"] == unknown
    # what /v1/score gives the merged records: a catalog item's fields, or the unknown id alone
    records = [catalog.item(row) if row >= 0 else {catalog.source: raw} for row, raw in zip(rows, ids, strict=True)]
    flat = scores(client, merged(context, records + objects))
    ranked = np.array([np.nan if p is None else p for p in answer["probabilities"]], np.float64)
    scored = np.setdiff1d(np.arange(len(ranked)), unknown) if skip else np.arange(len(ranked))
    assert np.isnan(ranked[unknown]).all() if skip else not np.isnan(ranked).any()
    assert np.abs(ranked[scored] - flat[scored]).max(initial=0.0) <= 1e-6
    assert ranked[answer["top_indices"]].tolist() == sorted(ranked[scored].tolist(), reverse=True)[:3]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rank_by_id_equals_score_on_merged_records_tiny(tiny_catalog_client, tiny_catalog_artifact, data):
    catalog = catalog_of(tiny_catalog_artifact)
    check_id_equivalence(tiny_catalog_client, load_artifact(tiny_catalog_artifact).encoder, catalog, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rank_by_id_equals_score_on_merged_records_interleaved(
    interleaved_catalog_client, interleaved_catalog_artifact, data
):
    catalog = catalog_of(interleaved_catalog_artifact)
    check_id_equivalence(interleaved_catalog_client, load_artifact(interleaved_catalog_artifact).encoder, catalog,
                         data)  # fmt: skip


def test_rank_equals_score_on_many_candidates(tiny_client, tiny_trained):
    from load_tests.workload import Workload

    body = Workload(load_artifact(tiny_trained[1]).encoder, seed=3, unseen_share=0.2).rank_body(1500)
    ranked = np.array(post_rank(tiny_client, body).json()["probabilities"])
    assert np.abs(ranked - scores(tiny_client, Workload.flat_records(body))).max() <= 1e-6


def test_offloaded_encoding_gives_the_same_scores(tiny_trained):
    body = {"context": CONTEXT, "candidates": CANDIDATES}
    with TestClient(create_app(Settings(model_dir=tiny_trained[1], rank_offload_candidates=1))) as client:
        offloaded = post_rank(client, body).json()["probabilities"]
    with TestClient(create_app(Settings(model_dir=tiny_trained[1]))) as client:
        assert post_rank(client, body).json()["probabilities"] == offloaded


# -- sides, limits and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"context": {"user": 1, "item": 3}, "candidates": [{"item": 2}]}, "item", "given in both"),
        ({"context": {"user": 1, "tags": ["news"]}, "candidates": [{"item": 2}]}, "tags", "is a candidate field"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}, {"item": 3, "device": "web"}]}, "device",
         "candidates[1]: is a context field"),
        ({"context": {"user": 1, "colour": "red"}, "candidates": [{"item": 2}]}, "colour", "context: unknown field"),
        ({"context": {"user": 1}, "candidates": [{"item": 2, "size": 3}]}, "size", "candidates[0]: unknown field"),
        ({"context": {"device": "web"}, "candidates": [{"item": 2}]}, "user", "context: required field is missing"),
        ({"context": {"user": None}, "candidates": [{"item": 2}]}, "user", "required field is missing"),
        ({"candidates": [{"item": 2}]}, "user", "required field is missing"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}, {"price": 3}]}, "item",
         "candidates[1]: required field is missing"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}, {"item": 3, "price": "cheap"}]}, "price",
         "candidates[1]: expected a number"),
        ({"context": {"user": [1]}, "candidates": [{"item": 2}]}, "user", "context: expected a string or integer"),
        ({"context": {"user": 1}, "candidates": [{"item": 2, "tags": ["a", "b", "c", "d"]}]}, "tags",
         "more than max_length=3"),
        ({"context": {"user": 1}, "candidates": []}, "candidates", "must not be empty"),
        ({"context": {"user": 1}, "candidates": {"item": 2}}, "candidates", "must be a list"),
        ({"context": {"user": 1}}, "candidates", "must be a list"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}, 5]}, "candidates", "candidates[1] must be an object"),
        ({"context": [1], "candidates": [{"item": 2}]}, "context", "must be an object"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}], "top_k": 0}, "top_k", "positive integer"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}], "top_k": "3"}, "top_k", "positive integer"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}], "top_k": True}, "top_k", "positive integer"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}], "explain": "yes"}, "explain", "true or false"),
        ({"context": {"user": 1}, "candidates": [{"item": 2}], "records": []}, "records", "unknown key"),
    ],
)  # fmt: skip
def test_bad_rank_requests_name_the_field(tiny_client, body, field, detail):
    response = assert_error(post_rank(tiny_client, body), 422, "invalid_request", field)
    assert detail in response["detail"]


def test_malformed_and_non_object_bodies(tiny_client):
    assert_error(post_rank(tiny_client, b"{nope"), 400, "malformed_json", None)
    assert_error(post_rank(tiny_client, [1]), 422, "invalid_request", None)


def test_candidate_limit_is_a_setting(tiny_trained):
    with TestClient(create_app(Settings(model_dir=tiny_trained[1], max_candidates=3))) as client:
        body = assert_error(
            post_rank(client, {"context": CONTEXT, "candidates": [{"item": 1}] * 4}), 422, "invalid_request",
            "candidates",
        )  # fmt: skip
        assert "4 candidates, more than the limit of 3" in body["detail"]
        assert post_rank(client, {"context": CONTEXT, "candidates": [{"item": 1}] * 3}).status_code == 200
        assert client.get("/v1/model").json()["limits"]["max_candidates"] == 3


def test_default_candidate_limit_is_2000(tiny_client):
    assert Settings().max_candidates == 2000
    body = post_rank(tiny_client, {"context": CONTEXT, "candidates": [{"item": 1}] * 2001}).json()
    assert body["field"] == "candidates" and "limit of 2000" in body["detail"]


def test_a_model_whose_source_feeds_both_sides_cannot_rank(tmp_path):
    pytest.importorskip("torch")
    from contract.artifact import write_artifact
    from contract.schema import parse_schema
    from training.export import export_onnx

    schema = parse_schema({"name": "mixed", "label": {"column": "y"}, "fields": [
        {"name": "user", "side": "context"},
        {"name": "region", "source": "zip", "transform": "prefix:2", "side": "context"},
        {"name": "zip", "side": "candidate"},
    ]})  # fmt: skip
    encoder = FeatureEncoder.build(schema.fields, {"user": ["a"], "region": ["12"], "zip": ["12345"]}, {})
    path = write_artifact(tmp_path, "mixed", encoder=encoder, linear=np.zeros(encoder.num_features),
                          embedding=np.zeros((encoder.num_features, 2)), bias=0.0,
                          onnx_model=export_onnx(0.0, encoder.num_slots, 2), manifest_extra={})  # fmt: skip
    with TestClient(create_app(Settings(model_dir=path))) as client:
        body = post_rank(client, {"context": {"user": "a", "zip": "12345"}, "candidates": [{}]}).json()
        assert body["field"] == "zip" and "both sides" in body["detail"]
        assert post_rank(client, {"context": {"user": "a"}, "candidates": [{}, {}]}).status_code == 200


def test_rank_is_counted_in_metrics(tiny_client):
    post_rank(tiny_client, {"context": CONTEXT, "candidates": CANDIDATES})
    text = tiny_client.get("/metrics").text
    assert 'ctr_http_requests_total{endpoint="/v1/rank",method="POST",status="200"}' in text
