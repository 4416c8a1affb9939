"""The scaling benchmark's pieces: the data views it trains on, the step micro-benchmark, the report."""

from __future__ import annotations

import json

import pytest

from benchmarks import scaling, sparse_step
from benchmarks.scaling_report import linear_fit, render
from contract.schema import load_schema
from training.stream.shards import list_shards, split_by_date


def test_linear_fit_recovers_a_line():
    fit = linear_fit([1, 2, 3, 4], [3.0, 5.0, 7.0, 9.0])
    assert fit["intercept"] == pytest.approx(1.0) and fit["slope"] == pytest.approx(2.0) and fit["r2"] == 1.0


def test_a_view_holds_the_first_shards_of_a_pool_and_one_validation_and_test_shard(tmp_path, monkeypatch):
    monkeypatch.setattr(scaling, "SHARD_ROWS", 2_000)
    small = scaling.view(tmp_path, 0.01, 4_000, 10_000, workers=1)
    large = scaling.view(tmp_path, 0.01, 8_000, 10_000, workers=1)
    schema = load_schema(scaling.ROOT / "datasets" / "criteo_synthetic.toml")
    a, b = (split_by_date(list_shards(schema, v), 1, 1) for v in (small, large))
    assert [len(a.train), len(a.validation), len(a.test)] == [2, 1, 1]
    assert [len(b.train), len(b.validation), len(b.test)] == [4, 1, 1]
    # the same validation and test shards, and the small view's shards are the large one's first ones
    assert a.test[0].path.resolve() == b.test[0].path.resolve()
    assert {s.path.resolve() for s in a.train} < {s.path.resolve() for s in b.train}


def test_the_step_benchmark_measures_both_modes(tmp_path):
    out = tmp_path / "step.json"
    assert sparse_step.main(["--tables", "1000", "--batch", "256", "--max-steps", "3", "--out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["mode"] for r in results] == ["sparse", "dense"]
    dense, sparse = results[1], results[0]
    assert dense["gradient_bytes"] == 1000 * 9 * 4 and 0 < sparse["rows_touched"] <= 1000
    assert all(r["steps"] == 3 and r["ms_per_step"] > 0 for r in results)


def test_the_report_renders_from_runs(tmp_path):
    def run(rows: int, procs: int, seconds: float) -> dict:
        return {"part": "rows", "rows": rows, "scale": 0.25, "processes": procs, "sparse": True, "features": 1000,
                "training_rows": rows, "count_seconds": seconds / 10, "train_seconds": seconds,
                "count_cpu_seconds": seconds / 20, "train_cpu_seconds": seconds / 2,
                "samples_per_s": rows / seconds, "peak_rss_mb": {"max": 900.0, "sum": 900.0 * procs,
                "per_rank": [900.0] * procs}, "test_auc": 0.78, "phases": {"data_seconds": 1.0,
                "augment_seconds": 0.0, "agree_seconds": 0.1, "step_seconds": 5.0}}  # fmt: skip

    report = {"command": "python -m benchmarks.scaling", "machine_runs": [{"cpus": 2}], "runs": {
        "rows-1000000-p1": run(1_000_000, 1, 20.0), "rows-10000000-p1": run(10_000_000, 1, 200.0),
        "rows-1000000-p2": run(1_000_000, 2, 15.0), "rows-10000000-p2": run(10_000_000, 2, 150.0)}}  # fmt: skip
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps(report))
    render(path)
    text = path.with_suffix(".md").read_text()
    assert "* training, wall: 0.0 s + 20.00 µs × rows (R² = 1.0000)" in text
    assert "* training, CPU: 0.0 s + 10.00 µs × rows (R² = 1.0000)" in text
    assert "| 10,000,000 | 50,000 | 66,667 | 1.33 | 100 → 75 |" in text
    assert path.with_suffix(".png").stat().st_size > 10_000
