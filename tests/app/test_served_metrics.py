"""Per-row metrics: the served-probability histogram per version and per-field OOV counts."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client.utils import floatToGoString

from contract.score_buckets import LOGIT_EDGES, PROBABILITY_EDGES, bucket_counts
from tests.app.conftest import post
from tests.app.test_metrics import sample


@pytest.fixture
def client(make_client):
    """Off by default (their cost, reports/serving_bench); these tests turn them on."""
    return make_client(served_metrics=True)


def cumulative_buckets(text: str, version: str) -> list[float]:
    les = [floatToGoString(p) for p in PROBABILITY_EDGES] + ["+Inf"]
    return [sample(text, "ctr_served_probability_bucket", le=le, version=version) for le in les]


def test_served_probabilities_fill_the_log_odds_buckets_of_their_version(client, sample_records, artifact_path):
    singles = [post(client, {"records": [r]}).json()["probabilities"][0] for r in sample_records[:5]]
    batch = post(client, {"records": sample_records[5:20]}).json()["probabilities"]
    served = np.array(singles + batch, dtype=np.float64)
    text = client.get("/metrics").text
    version = artifact_path.name
    expected = np.cumsum(np.bincount(np.searchsorted(PROBABILITY_EDGES, served), minlength=len(PROBABILITY_EDGES) + 1))
    assert cumulative_buckets(text, version) == expected.tolist()
    assert sample(text, "ctr_served_probability_count", version=version) == 20
    assert sample(text, "ctr_served_probability_sum", version=version) == pytest.approx(served.sum(), rel=1e-6)


def test_oov_rows_are_counted_per_field_as_report_oov_lists_them(client, sample_records):
    records = [dict(r) for r in sample_records[:6]]
    records[0]["user"] = 10**9  # unseen value
    records[1]["user"] = 10**9 + 1
    records[2].pop("device", None)  # missing optional field
    reported = post(client, {"records": records, "report_oov": True}).json()["oov_fields"]
    reported += post(client, {"records": records[:1], "report_oov": True}).json()["oov_fields"]
    text = client.get("/metrics").text
    fields = {f for row in reported for f in row}
    assert {"user", "device"} <= fields
    for field in fields:
        assert sample(text, "ctr_oov_rows_total", field=field) == sum(field in row for row in reported)


def test_served_metrics_are_off_by_default(make_client, sample_records):
    client = make_client()
    post(client, {"records": [dict(sample_records[0], user=10**9)]})
    text = client.get("/metrics").text
    assert sample(text, "ctr_served_probability_count", version=client.get("/v1/model").json()["version"]) == 0
    assert "ctr_oov_rows_total{" not in text


def test_bucket_edges_follow_prometheus_le_semantics():
    logits = np.array([-7.0, -6.0, -5.99, 0.0, 0.01, 6.0, 6.5, np.inf])
    counts = bucket_counts(logits)
    assert len(counts) == len(LOGIT_EDGES) + 1 == 26
    assert counts[0] == 2  # -7 and -6 (<= -6)
    assert counts[1] == 1  # -5.99 in (-6, -5.5]
    assert counts[LOGIT_EDGES.index(0.0)] == 1 and counts[LOGIT_EDGES.index(0.5)] == 1
    assert counts[LOGIT_EDGES.index(6.0)] == 1 and counts[-1] == 2
    assert PROBABILITY_EDGES[LOGIT_EDGES.index(0.0)] == 0.5
