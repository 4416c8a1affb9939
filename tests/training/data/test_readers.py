"""Every format reads the same rows into columns that encode identically."""

import dataclasses
import gzip
import shutil

import numpy as np
import pytest

from contract.encoding import FeatureEncoder
from tests.conftest import TINY_DATA
from tests.training.data.conftest import DATASETS, tiny_variant
from training.data import DataError, iter_chunks, load_table

TSV_COLUMNS = ["ts", "user", "item", "device", "price", "tags", "clicked"]
SOURCES = {
    "tsv": ({"format": "tsv", "header": False, "columns": TSV_COLUMNS}, "tiny_noheader.tsv"),
    "jsonl": ({"format": "jsonl"}, "tiny.jsonl"),
    "parquet": ({"format": "parquet"}, "tiny.parquet"),
}


@pytest.fixture(scope="module")
def reference():
    """tiny.csv's first 60 rows: the encoder fitted on them, and their encoding."""
    schema = tiny_variant()
    table = {k: v[:60] for k, v in load_table(schema, TINY_DATA).items()}
    encoder = FeatureEncoder.fit(schema.fields, [table])
    return encoder, encoder.encode_columns(table, 60), table["clicked"].astype(float)


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_formats_encode_like_the_csv(fmt, reference):
    source, file = SOURCES[fmt]
    table = load_table(tiny_variant(source=source), DATASETS / file)
    encoder, expected, labels = reference
    batch = encoder.encode_columns(table, len(table["clicked"]))
    np.testing.assert_array_equal(batch.ids, expected.ids)
    np.testing.assert_array_equal(batch.values, expected.values)
    np.testing.assert_array_equal(np.asarray(table["clicked"], dtype=float), labels)


def test_chunks_are_bounded_and_never_span_files():
    schema = tiny_variant(source={"format": "csv", "partition_column": "day"}, timestamp="day")
    chunks = list(iter_chunks(schema, DATASETS / "partitions", chunk_rows=7))
    assert [len(c) for c in chunks] == [7, 7, 6] * 3
    assert [c.path.split("partitions/")[1] for c in chunks[::3]] == [
        "dt=2023-11-14/part-0.csv", "dt=2023-11-15/part-0.csv", "2023-11-16.csv"]  # fmt: skip
    assert chunks[0].lines.tolist() == [1, 2, 3, 4, 5, 6, 7]  # records; the header is line 1
    assert chunks[1].where(0) == f"{chunks[1].path}, line 9"
    assert chunks[3].columns["day"][0] == "2023-11-15"
    assert set(chunks[0].columns) == {"user", "device", "item", "price", "tags", "clicked", "day"}


def test_partitions_read_like_the_csv(reference):
    schema = tiny_variant(source={"format": "csv", "partition_column": "day"}, timestamp="day")
    table = load_table(schema, DATASETS / "partitions")
    encoder, expected, _ = reference
    np.testing.assert_array_equal(encoder.encode_columns(table, 60).ids, expected.ids)


def test_gzipped_text_and_a_glob(tmp_path, reference):
    with gzip.open(tmp_path / "part.jsonl.gz", "wb") as fh:
        fh.write((DATASETS / "tiny.jsonl").read_bytes())
    shutil.copy(DATASETS / "tiny.jsonl", tmp_path / "ignored.json")
    table = load_table(tiny_variant(source={"format": "jsonl", "glob": "*.gz"}), tmp_path)
    encoder, expected, _ = reference
    np.testing.assert_array_equal(encoder.encode_columns(table, 60).ids, expected.ids)


def test_csv_errors_name_lines_despite_blank_lines_and_quoted_line_breaks(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text('ts,user,item,device,price,tags,clicked\n\n1,2,3,"we\nb",4,a,1\n\n5,6,7,ios,cheap,b,0\n')
    schema = tiny_variant(split={"method": "random", "sizes": [0.5, 0.25, 0.25]})
    chunk = next(iter_chunks(schema, path))
    assert chunk.columns["device"].tolist() == ["we\nb", "ios"]
    assert [chunk.where(0), chunk.where(1)] == [f"{path}, line 3", f"{path}, line 6"]


def test_csv_rows_with_too_few_fields_are_errors(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("ts,user,item,device,price,tags,clicked\n1,2,3,ios,4,a,1\n\n5,6,7,ios,1\n")
    with pytest.raises(DataError, match=r"short.csv: cannot parse as csv \(line 4: expected 7 fields, found 5\)"):
        load_table(tiny_variant(), path)


def test_jsonl_line_numbers_count_blank_lines():
    chunks = list(iter_chunks(tiny_variant(source={"format": "jsonl"}), DATASETS / "tiny.jsonl", chunk_rows=12))
    assert chunks[0].lines.tolist()[-3:] == [10, 12, 13]  # line 11 is blank
    assert chunks[0].where(11) == f"{DATASETS / 'tiny.jsonl'}, line 13"


def test_parquet_keeps_types_and_names_rows():
    chunks = list(iter_chunks(tiny_variant(source={"format": "parquet"}), DATASETS / "tiny.parquet", chunk_rows=25))
    assert [len(c) for c in chunks] == [25, 25, 10]
    first = chunks[0]
    assert first.columns["user"].dtype == np.int64 and first.columns["price"].dtype == np.float64
    assert isinstance(first.columns["tags"][0], list)
    assert first.where(0) == f"{DATASETS / 'tiny.parquet'}, row 1"
    assert chunks[1].lines[0] == 26


@pytest.mark.parametrize(
    ("source", "path", "message"),
    [
        ({"format": "csv"}, "nope.csv", "nope.csv: no such file or directory"),
        ({"format": "parquet"}, "given", "given: no parquet files in this directory (looked for *.parquet or *.pq)"),
        ({"format": "parquet"}, "tiny.jsonl", "cannot read as parquet"),
        ({"format": "csv", "partition_column": "day"}, "given", "no partition date in this path"),
    ],
)
def test_unreadable_locations(source, path, message):
    with pytest.raises(DataError) as info:
        load_table(tiny_variant(source=source, timestamp=None, split={"method": "random"}), DATASETS / path)
    assert message in str(info.value)


def test_a_user_format_needs_data():
    with pytest.raises(DataError, match="dataset 'tiny' needs a data path"):
        load_table(tiny_variant(source={"format": "csv"}))


def test_parquet_maps_nulls_and_dictionaries(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from contract.schema import load_schema

    table = pa.table(
        {
            "user": pa.array([1, None, 3], pa.int64()),
            "terms": pa.array([[("gpu", 2.0)], None, [("ssd", 0.5), ("fan", 1.0)]], pa.map_(pa.string(), pa.float64())),
            "clicked": pa.array(["1", "0", "1"]).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "w.parquet")
    schema = dataclasses.replace(load_schema(DATASETS / "weighted.toml"), source={"format": "parquet"})
    columns = load_table(schema, tmp_path / "w.parquet")
    assert columns["terms"].tolist() == [{"gpu": 2.0}, None, {"ssd": 0.5, "fan": 1.0}]
    assert np.isnan(columns["user"][1]) and columns["clicked"].tolist() == ["1", "0", "1"]
