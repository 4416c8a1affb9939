from pathlib import Path

import pytest

from contract.schema import load_schema
from tests.training.stream.conftest import SCHEMA
from training.data.errors import DataError
from training.data.files import DataFile
from training.stream.counting import count_shards
from training.stream.shards import Shard, assign, list_shards, split_by_date


def shard(name: str, date: str | None, rows: int = 10) -> Shard:
    return Shard(DataFile(Path(name), date), rows)


def test_split_takes_whole_dates_from_the_end():
    shards = [shard(f"{d}-{i}", f"2024-01-0{d}") for d in range(1, 6) for i in range(2)]
    split = split_by_date(shards, validation_days=1, test_days=2)
    assert {s.file.date for s in split.test} == {"2024-01-04", "2024-01-05"}
    assert {s.file.date for s in split.validation} == {"2024-01-03"}
    assert {s.file.date for s in split.train} == {"2024-01-01", "2024-01-02"}
    assert split.describe()["train"] == {"shards": 4, "rows": 40, "dates": ["2024-01-01", "2024-01-02"]}


def test_split_needs_dates_and_enough_of_them():
    with pytest.raises(DataError, match="partition_column"):
        split_by_date([shard("a", None)], 1, 1)
    with pytest.raises(DataError, match="2 partition dates"):
        split_by_date([shard("a", "2024-01-01"), shard("b", "2024-01-02")], 1, 1)


def test_every_shard_goes_to_exactly_one_rank_with_balanced_rows():
    shards = [shard(f"s{i}", "2024-01-01", rows) for i, rows in enumerate([100, 90, 50, 40, 30, 10, 10])]
    parts = [assign(shards, rank, 3) for rank in range(3)]
    assert sorted(s.path for p in parts for s in p) == sorted(s.path for s in shards)
    loads = [sum(s.rows for s in p) for p in parts]
    assert max(loads) - min(loads) <= 30  # greedy largest-first: 110 / 110 / 110
    assert assign(shards, 0, 1) == sorted(shards, key=lambda s: str(s.path))


def test_the_synthetic_shards_are_listed_with_their_rows_and_dates(small_data, small_spec):
    shards = list_shards(load_schema(SCHEMA), small_data)
    assert len(shards) == small_spec.shards and all(s.rows == small_spec.shard_rows for s in shards)
    assert shards[0].file.date == "2024-01-01" and shards[-1].file.date == "2024-01-04"


def test_counting_in_parallel_processes_equals_counting_in_one(small_data):
    schema = load_schema(SCHEMA)
    shards = list_shards(schema, small_data)[:4]
    one = count_shards(schema, shards, 4096, workers=1, progress=False)
    two = count_shards(schema, shards, 4096, workers=2, progress=False)
    assert one.counts.vocabularies() == two.counts.vocabularies()
    assert one.counts.boundaries() == two.counts.boundaries()
    assert one.rows == two.rows and sum(one.rows.values()) == 60_000


def test_quantile_buckets_are_refused_for_streaming(tmp_path):
    text = SCHEMA.read_text().replace("log = true                  # floor", "buckets = 4  # floor", 1)
    (tmp_path / "s.toml").write_text(text)
    with pytest.raises(DataError, match=r"fields\[0\]\.buckets \(I1\).*log = true"):
        count_shards(load_schema(tmp_path / "s.toml"), [], 100, progress=False)
