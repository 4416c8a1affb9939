import pytest

from contract.schema import SchemaError
from tests.training.data.conftest import DATASETS, tiny_variant
from training.data.source import needed_columns, parse_source


@pytest.mark.parametrize(
    ("source", "key", "message"),
    [
        ({}, "source.format", "is required"),
        ({"format": "xlsx"}, "source.format", "'xlsx' is not one of csv, tsv, parquet, jsonl, libfm, libsvm"),
        ({"format": 3}, "source.format", "must be a string"),
        ({"reader": "ml1m"}, "source.reader", "unknown reader 'ml1m'"),
        ({"reader": "ml100k", "format": "csv"}, "source.format", "does not apply to the built-in reader"),
        ({"format": "csv", "sheet": 1}, "source.sheet", "unknown key"),
        ({"format": "csv", "delimiter": ";;"}, "source.delimiter", "one character"),
        ({"format": "tsv", "delimiter": ";"}, "source.delimiter", "only applies to format = 'csv'"),
        ({"format": "csv", "header": "no"}, "source.header", "true or false"),
        ({"format": "csv", "header": False}, "source.columns", "is required with header = false"),
        ({"format": "csv", "columns": ["a"]}, "source.columns", "only applies with header = false"),
        ({"format": "csv", "header": False, "columns": ["user"]}, "source.columns", "does not name the column"),
        ({"format": "csv", "header": False, "columns": ["a", "a"]}, "source.columns", "twice"),
        ({"format": "csv", "encoding": "klingon"}, "source.encoding", "unknown encoding"),
        ({"format": "parquet", "encoding": "latin-1"}, "source.encoding", "only applies to format"),
        ({"format": "csv", "field_map": "m.tsv"}, "source.field_map", "only applies to format = 'libfm'"),
        ({"format": "libfm", "field_map": ""}, "source.field_map", "must not be empty"),
        ({"format": "csv", "partition_column": ""}, "source.partition_column", "must not be empty"),
    ],
)
def test_bad_source_options_name_the_key(source, key, message):
    with pytest.raises(SchemaError) as info:
        parse_source(tiny_variant(source=source))
    assert info.value.key == key
    assert message in str(info.value)


def test_libfm_cannot_have_a_timestamp_column_unless_it_is_the_partition_date():
    with pytest.raises(SchemaError, match="timestamp: libFM lines have no column 'ts'"):
        parse_source(tiny_variant(source={"format": "libfm"}))
    spec = parse_source(tiny_variant(source={"format": "libfm", "partition_column": "ts"}))
    assert spec.partition_column == "ts"


def test_defaults_paths_and_needed_columns():
    spec = parse_source(tiny_variant(source={"format": "libfm", "field_map": "tiny.fieldmap"}, timestamp=None,
                                     split={"method": "random"}))  # fmt: skip
    assert spec.field_map == DATASETS / "tiny.fieldmap"  # relative to the schema's directory
    assert (spec.delimiter, spec.header, spec.encoding, spec.glob) == (",", True, "utf-8", None)
    csv = tiny_variant(source={"format": "csv", "partition_column": "ts"})
    assert needed_columns(csv, parse_source(csv)) == ["user", "device", "item", "price", "tags", "clicked"]
    assert parse_source(tiny_variant(source={"format": "tsv"})).separator == "\t"
