import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from training.stream.synthetic import (
    CATEGORICAL_FIELDS,
    META_FILE,
    NUMERIC_FIELDS,
    PlantedModel,
    SyntheticSpec,
    bounded_zipf,
    generate,
    write_shard,
)


def test_shards_have_the_criteo_shape_and_the_asked_rates(small_data, small_spec):
    meta = json.loads((small_data / META_FILE).read_text())
    assert [s["path"] for s in meta["shards"]][:3] == [
        "date=2024-01-01/part-00000.parquet", "date=2024-01-01/part-00001.parquet", "date=2024-01-02/part-00002.parquet"
    ]  # fmt: skip
    table = pq.read_table(small_data / meta["shards"][0]["path"])
    assert table.column_names == [*NUMERIC_FIELDS, *CATEGORICAL_FIELDS, "label"]
    assert table.num_rows == small_spec.shard_rows
    assert str(table.schema.field("C3").type) == "int32" and table.column("C19").null_count > 0  # C19 is often missing
    ceiling = meta["ceiling"]["all"]
    assert ceiling["rows"] == small_spec.rows
    assert ceiling["positive_rate"] == pytest.approx(0.25, abs=0.01)
    assert 0.75 < ceiling["auc"] < 0.88  # the planted model's own AUC: what a perfect learner reaches
    assert set(meta["ceiling"]) == {"all", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"}


def test_values_follow_a_power_law():
    ranks = bounded_zipf(np.random.default_rng(0), 1_000_000, 10_000, 1.1)
    counts = np.bincount(ranks, minlength=10_001)[1:]

    def mass(r: int) -> float:  # the continuous power law's mass on [r, r + 1): r^-0.1 - (r + 1)^-0.1
        return r**-0.1 - (r + 1) ** -0.1

    assert counts[0] / counts[1] == pytest.approx(mass(1) / mass(2), rel=0.03)
    assert counts[0] / counts[9] == pytest.approx(mass(1) / mass(10), rel=0.05)
    # in the tail, frequency ∝ rank^-1.1: the log-log slope between ranks ~100 and ~1000
    slope = np.log(counts[900:1100].mean() / counts[90:110].mean()) / np.log(10)
    assert slope == pytest.approx(-1.1, abs=0.05)
    assert ranks.min() >= 1 and ranks.max() <= 10_000


def test_a_shard_regenerated_alone_is_identical(small_data, small_spec, tmp_path):
    planted = PlantedModel(small_spec)
    write_shard(small_spec, planted, tmp_path, 5)  # alone, in another process order, into another directory
    path = small_spec.shard_path(5)
    assert pq.read_table(tmp_path / path).equals(pq.read_table(small_data / path))


def test_another_seed_gives_other_data(small_spec, tmp_path):
    other = SyntheticSpec(**{**small_spec.to_dict(), "seed": 8, "rows": 15_000})
    write_shard(other, PlantedModel(other), tmp_path, 0)
    same_seed = SyntheticSpec(**{**small_spec.to_dict(), "rows": 15_000})
    write_shard(same_seed, PlantedModel(same_seed), tmp_path / "b", 0)
    a, b = (pq.read_table(p / other.shard_path(0)) for p in (tmp_path, tmp_path / "b"))
    assert not a.equals(b)


def test_generation_in_parallel_equals_generation_in_one_process(small_data, small_spec, tmp_path):
    spec = SyntheticSpec(**{**small_spec.to_dict(), "rows": 45_000})  # the first 3 shards
    meta = generate(spec, tmp_path, workers=2, progress=False)
    for shard in meta["shards"]:
        assert pq.read_table(tmp_path / shard["path"]).equals(pq.read_table(small_data / shard["path"]))
    assert generate(spec, tmp_path, progress=False) == meta  # already there: kept as it is


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="positive_rate"):
        SyntheticSpec(rows=10, positive_rate=1.5)
    with pytest.raises(ValueError, match="rows"):
        SyntheticSpec(rows=0)
