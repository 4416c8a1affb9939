"""POST /v1/rank with "candidate_ids": catalog terms, unknown ids, explanations, errors, and catalog swaps."""

import asyncio
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.versions.catalog import refresh_catalog
from contract.catalog_files import CATALOG_DIR, current_generation, set_current
from tests.app.conftest import post, post_rank
from tests.app.http.test_routes import assert_error
from tests.app.redis_helpers import wait_for
from tests.conftest import catalog_of, copy_version

CONTEXT = {"user": 7, "device": "web"}


@pytest.fixture(scope="module")
def client(tiny_catalog_artifact):
    with TestClient(create_app(Settings(model_dir=tiny_catalog_artifact))) as client:
        yield client


@pytest.fixture(scope="module")
def catalog(tiny_catalog_artifact):
    return catalog_of(tiny_catalog_artifact)


def test_catalog_terms_are_exactly_those_of_the_same_candidate_sent_whole(client, catalog):
    ids = [int(catalog.key(r)) for r in range(len(catalog))]
    by_id = post_rank(client, {"context": CONTEXT, "candidate_ids": ids}).json()
    whole = post_rank(client, {"context": CONTEXT, "candidates": [catalog.item(r) for r in range(len(catalog))]}).json()
    assert by_id["probabilities"] == whole["probabilities"]  # bitwise: the same float64 terms
    assert by_id["unknown_indices"] == [] and "unknown_indices" not in whole


def test_mixed_request_with_top_k_and_skipped_unknown_ids(client, catalog):
    known = int(catalog.key(0))
    body = {"context": CONTEXT, "candidate_ids": [known, 999_999, str(known)], "candidates": [{"item": 5}],
            "unknown_ids": "skip", "top_k": 4}  # fmt: skip
    answer = post_rank(client, body).json()
    assert answer["unknown_indices"] == [1]
    assert answer["probabilities"][1] is None
    assert answer["probabilities"][0] == answer["probabilities"][2]
    assert sorted(answer["top_indices"]) == [0, 2, 3]  # the skipped id is never chosen
    scored = post_rank(client, {**body, "unknown_ids": "score"}).json()
    alone = post(client, {"records": [{**CONTEXT, "item": 999_999}]}).json()["probabilities"][0]
    assert abs(scored["probabilities"][1] - alone) <= 1e-6
    assert scored["unknown_indices"] == [1] and len(scored["top_indices"]) == 4


def test_explanations_of_ids_match_those_of_whole_candidates(client, catalog):
    items = [catalog.item(r) for r in range(3)]
    ids = [catalog.key(r) for r in range(3)]
    by_id = post_rank(client, {"context": CONTEXT, "candidate_ids": [*ids, "424242"], "explain": True,
                               "top_k": 4}).json()  # fmt: skip
    whole = post_rank(client, {"context": CONTEXT, "candidates": [*items, {"item": "424242"}], "explain": True,
                               "top_k": 4}).json()  # fmt: skip
    assert by_id["top_indices"] == whole["top_indices"]
    for a, b in zip(by_id["explanations"], whole["explanations"], strict=True):
        assert a["index"] == b["index"] and a["logit"] == pytest.approx(b["logit"], abs=1e-12)
        assert a["pairs"] == b["pairs"] and a["top_pairs"] == b["top_pairs"]
    skipped = post_rank(client, {"context": CONTEXT, "candidate_ids": [*ids, "424242"], "explain": True,
                                 "unknown_ids": "skip"}).json()  # fmt: skip
    assert [e["index"] for e in skipped["explanations"]] == [0, 1, 2]


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"candidate_ids": 18}, "candidate_ids", "must be a list of candidate ids"),
        ({"candidate_ids": [18, True]}, "candidate_ids", "candidate_ids[1]: expected a string or integer id"),
        ({"candidate_ids": [[18]]}, "candidate_ids", "candidate_ids[0]: expected a string or integer"),
        ({"candidate_ids": [{"item": 18}]}, "candidate_ids", "candidate_ids[0]"),
        ({"candidate_ids": [None]}, "candidate_ids", "candidate_ids[0]: an id must not be null"),
        ({"candidate_ids": [18, 2.5]}, "candidate_ids", "candidate_ids[1]"),
        ({"candidate_ids": ["x1"]}, "candidate_ids", "expected an integer id"),
        ({"candidate_ids": []}, "candidate_ids", "must not be empty"),
        ({"candidate_ids": [18], "candidates": {"item": 1}}, "candidates", "must be a list"),
        ({"candidate_ids": [18], "unknown_ids": "drop"}, "unknown_ids", '"score" or "skip"'),
        ({"candidate_ids": [18], "candidates": [{"item": 2, "size": 1}]}, "size", "candidates[1]: unknown field"),
    ],
)
def test_bad_id_requests_name_the_field(client, body, field, detail):
    answer = assert_error(post_rank(client, {"context": CONTEXT, **body}), 422, "invalid_request", field)
    assert detail in answer["detail"]


def test_ids_and_objects_count_together_against_the_limit(tiny_catalog_artifact):
    with TestClient(create_app(Settings(model_dir=tiny_catalog_artifact, max_candidates=3))) as client:
        body = {"context": CONTEXT, "candidate_ids": [18, 34], "candidates": [{"item": 1}, {"item": 2}]}
        answer = assert_error(post_rank(client, body), 422, "invalid_request", "candidate_ids")
        assert "4 candidates (2 ids and 2 objects), more than the limit of 3" in answer["detail"]
        too_many = assert_error(post_rank(client, {"context": CONTEXT, "candidate_ids": [1] * 4}), 422,
                                "invalid_request", "candidate_ids")  # fmt: skip
        assert "4 candidates, more than the limit of 3" in too_many["detail"]
        assert post_rank(client, {**body, "candidates": [{"item": 1}]}).status_code == 200


def test_a_version_without_a_catalog_answers_ids_with_a_422(make_client):
    answer = assert_error(post_rank(make_client(), {"context": CONTEXT, "candidate_ids": [18]}), 422,
                          "invalid_request", "candidate_ids")  # fmt: skip
    assert "has no candidate catalog" in answer["detail"]


def test_catalog_lookups_and_size_are_metrics(client, catalog):
    post_rank(client, {"context": CONTEXT, "candidate_ids": [catalog.key(0), "31337", catalog.key(1)]})
    text = client.get("/metrics").text
    assert f"ctr_catalog_items {float(len(catalog))}" in text
    assert 'ctr_rank_catalog_lookups_total{result="unknown"}' in text
    assert 'ctr_catalog_loads_total{result="loaded"} 1.0' in text


def test_a_new_generation_swaps_in_and_a_broken_one_is_refused(tiny_catalog_artifact, tmp_path):
    """`ctr catalog build` without retraining; the server's poll of its model directory swaps it in."""
    from training.catalog import write_version_catalog

    version = copy_version(tiny_catalog_artifact, tmp_path)
    first = current_generation(version)
    known = catalog_of(version).item(0)
    with TestClient(create_app(Settings(model_dir=version.parent, model_poll_seconds=0.05))) as client:
        state = client.app.state.ctr
        body = {"context": CONTEXT, "candidate_ids": [known["item"], 4242]}
        before = post_rank(client, body).json()
        assert before["unknown_indices"] == [1]
        changed = {**known, "tags": ["sport"], "price": 1.0}
        summary = write_version_catalog(version, [changed, {"item": 4242, "tags": ["news"]}], "item", source={})
        wait_for(lambda: post_rank(client, body).json()["unknown_indices"] == [])
        after = post_rank(client, body).json()
        assert after["probabilities"] != before["probabilities"] and after["model_version"] == version.name
        expected = post(client, {"records": [{**CONTEXT, **changed}, {**CONTEXT, "item": 4242, "tags": ["news"]}]})
        np.testing.assert_allclose(after["probabilities"], expected.json()["probabilities"], atol=1e-6)
        assert asyncio.run(refresh_catalog(state.model, state.metrics)) is False  # nothing new

        broken = write_version_catalog(version, [known], "item", source={}, activate=False)["generation"]
        items = version / CATALOG_DIR / broken / "items.jsonl"
        items.write_text(json.dumps({"item": 1}) + "\n")  # no longer matches its sha256
        set_current(version, broken)
        wait_for(lambda: 'ctr_catalog_loads_total{result="refused"} 1.0' in client.get("/metrics").text)
        assert state.model.catalog.generation == summary["generation"] != first
        assert post_rank(client, body).json()["probabilities"] == after["probabilities"]


def test_a_broken_catalog_keeps_its_version_from_loading(tiny_catalog_artifact, tmp_path, caplog):
    version = copy_version(tiny_catalog_artifact, tmp_path)
    (version / CATALOG_DIR / current_generation(version) / "own.npy").write_bytes(b"garbage")
    with TestClient(create_app(Settings(model_dir=version))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "refused (corrupt)" in ready.json()["detail"]
        assert "own.npy does not match the sha256" in caplog.text
        assert 'ctr_model_activation_refusals_total{reason="corrupt"} 1.0' in client.get("/metrics").text


def test_openapi_documents_ids_and_the_unknown_id_option(client):
    rank = client.get("/openapi.json").json()["paths"]["/v1/rank"]["post"]
    body = rank["requestBody"]["content"]["application/json"]["schema"]
    assert {"candidate_ids", "unknown_ids", "candidates"} <= set(body["properties"])
    assert body["properties"]["unknown_ids"]["enum"] == ["score", "skip"]
    assert "items in this version's catalog" in body["properties"]["candidate_ids"]["description"]
    answer = rank["responses"]["200"]["content"]["application/json"]["schema"]
    assert "unknown_indices" in answer["properties"]
    example = body["example"]
    assert len(example["candidate_ids"]) == 2  # ids of this version's catalog: the example is accepted
    accepted = post_rank(client, example).json()
    assert accepted["unknown_indices"] == [] and len(accepted["probabilities"]) == 3
