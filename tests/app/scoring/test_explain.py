"""Explanations: an oracle (naive pairwise loops) for the vectorised parts, and the HTTP format."""

from itertools import combinations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.scoring.explain import Explainer
from app.settings import Settings
from contract.artifact import load_artifact
from contract.fm import fm_logit
from load_tests.workload import Workload
from tests.app.conftest import post, post_rank

CONTEXT = {"user": 7, "device": "web"}
CANDIDATES = [{"item": 6, "price": 50.0, "tags": ["news", "tech", "food"]}, {"item": 17}, {"item": 999, "tags": "x"}]


@pytest.fixture(scope="module")
def tiny_client(tiny_trained):
    with TestClient(create_app(Settings(model_dir=tiny_trained[1]))) as client:
        yield client


def naive_parts(explainer: Explainer, rows: np.ndarray, values: np.ndarray):
    """Linear per field and interaction per field pair, by looping over every pair of slots."""
    rows, values = rows.astype(np.float64), values.astype(np.float64)
    n_fields = len(explainer.fields)
    linear = np.zeros((len(rows), n_fields))
    pairs = np.zeros((len(rows), n_fields, n_fields))
    for b in range(len(rows)):
        for s in range(rows.shape[1]):
            linear[b, explainer.slot_field[s]] += values[b, s] * rows[b, s, 0]
        for s, t in combinations(range(rows.shape[1]), 2):
            f, g = sorted((explainer.slot_field[s], explainer.slot_field[t]))
            pairs[b, f, g] += values[b, s] * values[b, t] * rows[b, s, 1:] @ rows[b, t, 1:]
    return linear, pairs


def test_parts_match_a_naive_pairwise_loop(interleaved_artifact):
    artifact = load_artifact(interleaved_artifact)
    explainer = Explainer(artifact.encoder.fields, artifact.bias)
    workload = Workload(artifact.encoder, seed=1, unseen_share=0.2)
    records = Workload.flat_records(workload.rank_body(12))
    batch = artifact.encoder.encode_records(records)
    rows = artifact.table[batch.ids]
    parts = explainer.parts(rows, batch.values)
    linear, pairs = naive_parts(explainer, rows, batch.values)
    np.testing.assert_allclose(parts.linear, linear, atol=1e-12)
    np.testing.assert_allclose(parts.pairs, pairs[:, explainer.pair_a, explainer.pair_b], atol=1e-12)
    # every nonzero field pair is listed, including genres x genres and history x history
    listed = np.zeros_like(pairs, dtype=bool)
    listed[:, explainer.pair_a, explainer.pair_b] = True
    assert not pairs[~listed].any()
    assert [lab["fields"] for lab in explainer.pair_labels if lab["within_field"]] == [
        ["genres", "genres"], ["history", "history"]]  # fmt: skip
    total = artifact.bias + parts.linear.sum(axis=1) + parts.pairs.sum(axis=1)
    np.testing.assert_allclose(total, fm_logit(rows, batch.values, artifact.bias), atol=1e-12)


def test_top_pairs_are_the_largest_feature_interactions(interleaved_artifact):
    artifact = load_artifact(interleaved_artifact)
    explainer = Explainer(artifact.encoder.fields, artifact.bias, top_pairs=4)
    record = {"item": 3, "user": 2, "genres": ["drama", "kids"], "history": "news,comedy", "hour": 13, "brand": "ACME"}
    batch = artifact.encoder.encode_records([record])
    rows = artifact.table[batch.ids]
    [explanation] = explainer.explain(batch.ids, rows, batch.values, np.zeros(1))
    values, r = batch.values[0].astype(np.float64), rows[0].astype(np.float64)
    expected = sorted(
        (values[s] * values[t] * r[s, 1:] @ r[t, 1:] for s, t in combinations(range(len(values)), 2)
         if values[s] and values[t]), key=abs, reverse=True)[:4]  # fmt: skip
    got = [p["contribution"] for p in explanation["top_pairs"]]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    names = {name for p in explanation["top_pairs"] for name in p["features"]}
    assert names <= {"item=3", "user=2", "genres=drama", "genres=kids", "history=news", "history=comedy",
                     "hour=[12,18)", "brand=acme"}  # fmt: skip


def parts_sum(explanation) -> float:
    return (
        explanation["bias"] + sum(explanation["linear"].values()) + sum(p["contribution"] for p in explanation["pairs"])
    )


def check_explanation(explanation, probability: float, fields: list[str]) -> None:
    assert abs(parts_sum(explanation) - explanation["logit"]) <= 1e-5
    assert abs(explanation["probability"] - probability) <= 1e-6
    assert list(explanation["linear"]) == fields
    labels = [tuple(p["fields"]) for p in explanation["pairs"]]
    assert len(labels) == len(set(labels))
    assert {p["within_field"] for p in explanation["pairs"] if p["fields"][0] == p["fields"][1]} == {True}
    top = [abs(p["contribution"]) for p in explanation["top_pairs"]]
    assert top == sorted(top, reverse=True)


def test_score_explain(tiny_client):
    records = [{**CONTEXT, **c} for c in CANDIDATES]
    plain = post(tiny_client, {"records": records}).json()
    assert "explanations" not in plain
    body = post(tiny_client, {"records": records, "explain": True}).json()
    assert body["probabilities"] == plain["probabilities"]
    fields = ["user", "device", "item", "price", "tags"]
    for i, (explanation, p) in enumerate(zip(body["explanations"], body["probabilities"], strict=True)):
        assert explanation["index"] == i
        check_explanation(explanation, p, fields)
    pairs = [tuple(p["fields"]) for p in body["explanations"][0]["pairs"]]
    assert ("tags", "tags") in pairs and ("user", "user") not in pairs  # only multi-slot fields pair with themselves
    assert len(pairs) == 10 + 1
    tags = next(p for p in body["explanations"][0]["pairs"] if p["fields"] == ["tags", "tags"])
    assert tags["within_field"] is True and tags["contribution"] != 0.0  # three tags interact with each other
    assert body["explanations"][0]["top_pairs"][0]["features"][0].startswith(("user=", "device=", "item=", "price="))


def test_rank_explain_matches_score_explain(tiny_client):
    ranked = post_rank(tiny_client, {"context": CONTEXT, "candidates": CANDIDATES, "explain": True}).json()
    scored = post(tiny_client, {"records": [{**CONTEXT, **c} for c in CANDIDATES], "explain": True}).json()
    for r, s, p in zip(ranked["explanations"], scored["explanations"], ranked["probabilities"], strict=True):
        check_explanation(r, p, ["user", "device", "item", "price", "tags"])
        assert r["index"] == s["index"]
        assert r["linear"] == pytest.approx(s["linear"], abs=1e-9)
        assert [p["contribution"] for p in r["pairs"]] == pytest.approx([p["contribution"] for p in s["pairs"]],
                                                                         abs=1e-9)  # fmt: skip
        assert r["top_pairs"] == s["top_pairs"] or [p["features"] for p in r["top_pairs"]] == [
            p["features"] for p in s["top_pairs"]]  # fmt: skip
        assert abs(r["logit"] - s["logit"]) <= 1e-5


def test_rank_explain_with_top_k_explains_the_returned_candidates(tiny_client):
    candidates = [{"item": i} for i in range(1, 30)]
    body = post_rank(tiny_client, {"context": CONTEXT, "candidates": candidates, "top_k": 4, "explain": True}).json()
    assert [e["index"] for e in body["explanations"]] == body["top_indices"]
    for e in body["explanations"]:
        check_explanation(e, body["probabilities"][e["index"]], ["user", "device", "item", "price", "tags"])


def test_many_rows_are_explained_off_the_loop_with_the_same_result(tiny_trained):
    body = {"context": CONTEXT, "candidates": CANDIDATES, "explain": True}
    with TestClient(create_app(Settings(model_dir=tiny_trained[1], explain_offload_rows=1))) as client:
        offloaded = post_rank(client, body).json()["explanations"]
    with TestClient(create_app(Settings(model_dir=tiny_trained[1]))) as client:
        assert post_rank(client, body).json()["explanations"] == offloaded


def test_explain_must_be_a_boolean(tiny_client):
    body = post(tiny_client, {"records": [{"user": 1, "item": 2}], "explain": 1}).json()
    assert body["field"] == "explain"
