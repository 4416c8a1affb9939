"""The feedback loop end to end on MovieLens-100k (issue 19's check).

A model serves test-period records with the impression log on; feedback is posted for the rows rated
4 or more; `ctr join` labels the day; the joined partition must hold exactly the served rows with the
ratings' labels, its raw fields must encode to the ids the server computed, and training on it works.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from cli import main
from contract.artifact import load_artifact

torch = pytest.importorskip("torch")

from training.pipeline import raw_records  # noqa: E402


def test_served_rows_joined_with_clicks_are_what_was_served(movielens_trained, tmp_path, capsys):
    prepared, artifact = movielens_trained
    rows = prepared.split.test[:: len(prepared.split.test) // 600][:600]  # spread over the test period
    records = raw_records(prepared, rows)
    ratings = prepared.table["rating"][rows].astype(int)
    logs = tmp_path / "logs"
    settings = Settings(model_dir=artifact, impression_log="file", impression_dir=logs)
    sent = []  # (request id, row in request, index into records)
    with TestClient(create_app(settings)) as client:
        for start in range(0, len(records), 50):  # batches of 50, as records and as columns
            batch = records[start : start + 50]
            body = {"records": batch} if start % 100 else {"columns": {k: [r[k] for r in batch] for k in batch[0]}}
            answer = client.post("/v1/score", json=body).json()
            sent += [(answer["request_id"], i, start + i) for i in range(len(batch))]
        events = [{"request_id": rid, "row": i, "clicked": True} for rid, i, k in sent if ratings[k] >= 4]
        for start in range(0, len(events), 200):
            assert client.post("/v1/feedback", json={"events": events[start : start + 200]}).status_code == 200
    day = dt.datetime.now(dt.UTC).date()  # the impressions' day (a run across midnight would split them)
    joined = tmp_path / "joined"
    assert main(["join", "--date", day.isoformat(), "--log-dir", str(logs), "--out", str(joined), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["impressions"] == len(records) and counts["duplicates"] == 0
    assert counts["positives"] == int((ratings >= 4).sum()) and counts["negatives"] == int((ratings < 4).sum())

    lines = [json.loads(line) for line in (joined / f"date={day}" / "part-0.jsonl").read_text().splitlines()]
    by_key = {(line["request_id"], line["row"]): line for line in lines}
    for rid, i, k in sent:
        line = by_key[(rid, i)]
        assert line["clicked"] == int(ratings[k] >= 4)
        assert {name: line[name] for name in records[k]} == records[k]  # the raw fields, exactly as sent
    # the joined fields encode to the ids the server computed for the rows it scored
    encoder = load_artifact(artifact).encoder
    fields = [{name: line[name] for name in records[0]} for line in (by_key[(rid, i)] for rid, i, _ in sent)]
    np.testing.assert_array_equal(encoder.encode_records(fields).ids,
                                  encoder.encode_records([records[k] for *_, k in sent]).ids)  # fmt: skip

    # idempotent: joining again writes the same partition
    first = (joined / f"date={day}" / "part-0.jsonl").read_bytes()
    assert main(["join", "--date", day.isoformat(), "--log-dir", str(logs), "--out", str(joined)]) == 0
    assert (joined / f"date={day}" / "part-0.jsonl").read_bytes() == first
    capsys.readouterr()

    # and the nightly job's trainer takes it as input
    code = main(["train", "--dataset", "datasets/ml100k_feedback.toml", "--data", str(joined), "--epochs", "2",
                 "--dim", "4", "--quiet", "--no-export"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert sum(summary["split"]["rows"].values()) == len(records)
