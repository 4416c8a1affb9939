"""The streamed inspection must agree with the in-memory pipeline it describes."""

import dataclasses
import re

import numpy as np
import pytest

from contract.field import OOV
from contract.schema import load_schema
from tests.conftest import TINY_DATA
from tests.training.data.conftest import BAD, DATASETS, tiny_variant
from training.data import encode_rows, fit_encoder, read_dataset, split_spec
from training.data.inspection import format_report, inspect_dataset


@pytest.fixture(scope="module")
def movielens():
    schema = load_schema("datasets/ml100k.toml")
    spec = split_spec(schema)  # by time: later users are often new
    return schema, spec, inspect_dataset(schema, None, spec, chunk_rows=7_000, sample_rows=2)


def test_streamed_counts_match_the_in_memory_pipeline(movielens):
    schema, spec, report = movielens
    dataset = read_dataset(schema, None, spec)
    encoder = fit_encoder(schema.fields, dataset, dataset.split.train)
    assert report.split["rows"] == dataset.split.describe()["rows"]
    assert report.rows == report.rows_read == len(dataset) == 100_000
    assert report.positive_rate == pytest.approx(dataset.labels.mean())
    assert report.split["positive_rate"]["validation"] == pytest.approx(dataset.labels[dataset.split.validation].mean())
    assert report.num_features == encoder.num_features
    valid = dataset.rows(dataset.split.validation)
    for field, got in zip(encoder.fields, report.fields, strict=True):
        assert got.vocabulary == field.size - 1
        if field.spec.kind == "categorical":  # recomputed here from raw values, not from encoded slots
            local = field.local_ids(valid[field.spec.source])
            assert got.oov_share == pytest.approx(np.mean(local[local >= 0] == OOV)), field.spec.name
    user = report.fields[0]
    assert user.name == "user_id" and user.oov_share > 0.5  # most users of the last 10% are new
    assert report.fields[1].distinct is None and report.fields[1].oov_share is None  # numeric age
    genres = next(f for f in report.fields if f.name == "genres")
    assert genres.distinct == 19 and genres.missing_share == 0.0


def test_sample_rows_show_raw_and_encoded_values(movielens):
    schema, spec, report = movielens
    dataset = read_dataset(schema, None, spec)
    encoder = fit_encoder(schema.fields, dataset, dataset.split.train)
    first = report.sample[0]
    row = int(np.sort(dataset.split.validation)[0])  # samples are the first validation rows in file order
    assert first.where == f"ml-100k.inter (recbole==1.2.1), rating {row + 1}"
    batch = encode_rows(encoder, dataset, np.array([row]))
    user_cell = first.cells[0]
    assert user_cell[:2] == ("user_id", dataset.columns["user_id"][row])
    assert user_cell[2].endswith(f"#{batch.ids[0, 0]}")


def test_chunk_size_does_not_change_the_report():
    schema = tiny_variant(split={"method": "random", "sizes": [0.6, 0.2, 0.2], "seed": 5})
    small = inspect_dataset(schema, TINY_DATA, chunk_rows=7)
    large = inspect_dataset(schema, TINY_DATA, chunk_rows=10_000)
    assert small.to_dict() == large.to_dict()


def test_time_split_on_partitions_and_dropped_rows():
    schema = tiny_variant(source={"format": "csv", "partition_column": "day"}, timestamp="day")
    report = inspect_dataset(schema, DATASETS / "partitions", chunk_rows=11)
    assert report.split["method"] == "time" and report.rows == 60
    dropped = inspect_dataset(tiny_variant(split={"method": "random", "sizes": [0.5, 0.25, 0.25]}),
                              BAD / "missing_label.csv")  # fmt: skip
    assert (dropped.rows_read, dropped.rows, dropped.dropped) == (8, 6, {"missing_label": 2})
    assert "rows: 8 read, 6 kept (dropped: 2 missing label)" in format_report(dropped)


def test_oov_and_missing_shares_on_a_given_split(tmp_path):
    lines = (DATASETS / "given" / "validation.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:11]]
    for i, row in enumerate(rows):
        row["device"] = "" if i < 2 else row["device"]  # 2 of 10 missing
        row["user"] = "9999" if i < 5 else row["user"]  # 5 of 10 unseen
        row["tags"] = "news|zzz" if i == 0 else "news"  # 1 of 11 tags unseen
    (tmp_path / "validation.csv").write_text("\n".join([lines[0]] + [",".join(r.values()) for r in rows]) + "\n")
    data = {"train": DATASETS / "given" / "train.csv", "validation": tmp_path / "validation.csv",
            "test": DATASETS / "given" / "test.csv"}  # fmt: skip
    schema = tiny_variant()
    report = inspect_dataset(schema, data, dataclasses.replace(schema.split, method="given"))
    by_name = {f.name: f for f in report.fields}
    assert by_name["device"].missing_share == pytest.approx(0.2) and by_name["device"].oov_share == 0
    assert by_name["user"].oov_share == pytest.approx(0.5)
    assert by_name["tags"].oov_share == pytest.approx(1 / 11)
    assert report.split["files"]["validation"] == str(tmp_path / "validation.csv")


def test_inspecting_libfm_with_weights():
    report = inspect_dataset(load_schema(DATASETS / "weighted_libfm.toml"), DATASETS / "weighted.libfm", sample_rows=1)
    text = format_report(report)
    assert re.search(r"\nterms +multi_categorical +candidate +8 +8 +0.0% +0.0%\n", text)
    cell = report.sample[0].cells[1]
    assert cell[0] == "terms" and " x" in cell[2]  # weights other than 1 are shown
