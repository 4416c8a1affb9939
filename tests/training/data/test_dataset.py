"""Reading into memory: bad data is an error naming file and line; drops are counted; splits."""

import numpy as np
import pytest

from tests.conftest import TINY_DATA
from tests.training.data.conftest import BAD, DATASETS, tiny_variant
from training.data import DataError, encode_rows, fit_encoder, read_dataset, split_spec

GIVEN = {part: DATASETS / "given" / f"{part}.csv" for part in ("train", "validation", "test")}


def read(schema, data, **split):
    dataset = read_dataset(schema, data, split_spec(schema, **split))
    encoder = fit_encoder(schema.fields, dataset, dataset.split.train)
    for rows in (dataset.split.train, dataset.split.validation, dataset.split.test):
        encode_rows(encoder, dataset, rows)
    return dataset


def error_of(schema, data, **split) -> str:
    with pytest.raises(DataError) as info:
        read(schema, data, **split)
    return str(info.value)


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (
            "missing_column.csv",
            "missing_column.csv: missing column(s) 'price' that the schema reads (the header has "
            "'ts', 'user', 'item', 'device', 'tags', 'clicked')",
        ),
        ("label_not_binary.csv", "label_not_binary.csv, line 4: label column 'clicked' is 2, not 0 or 1"),
        ("text_in_numeric.csv", "text_in_numeric.csv, line 5: price: expected a number, got 'cheap'"),
        ("unparsable.csv", "unparsable.csv: cannot parse as csv (line 6: expected 7 fields, found 8)"),
        ("empty.csv", "empty.csv: no rows (the data is empty)"),
    ],
)
def test_bad_csv_files(file, message):
    assert message in error_of(tiny_variant(), BAD / file)


def test_bad_jsonl_line():
    message = error_of(tiny_variant(source={"format": "jsonl"}), BAD / "unparsable.jsonl")
    assert message.startswith(f"{BAD / 'unparsable.jsonl'}, line 3: not valid JSON (")


def test_a_key_no_record_has(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"user": 1, "item": 2, "clicked": 1, "ts": 5, "pric": 3}\n')
    assert error_of(tiny_variant(source={"format": "jsonl"}), path) == (
        f"{path}: no record has the key(s) 'device', 'price', 'tags' that the schema reads"
    )


def test_a_bad_value_in_the_validation_part_names_its_line(tmp_path):
    lines = TINY_DATA.read_text().splitlines()[:41]
    lines[35] = lines[35].replace(lines[35].split(",")[4], "n/a", 1)  # price of data row 35, validation by time
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    assert error_of(tiny_variant(), path) == f"{path}, line 36: price: expected a number, got 'n/a'"


def test_missing_required_value_names_its_line(tmp_path):
    lines = TINY_DATA.read_text().splitlines()[:21]
    cells = lines[7].split(",")
    cells[1] = ""
    lines[7] = ",".join(cells)
    path = tmp_path / "no_user.csv"
    path.write_text("\n".join(lines) + "\n")
    assert error_of(tiny_variant(), path) == f"{path}, line 8: user: required field is missing"


def test_rows_without_a_label_are_dropped_and_counted():
    dataset = read(tiny_variant(), BAD / "missing_label.csv")
    assert dataset.dropped == {"missing_label": 2}
    assert len(dataset) == 6
    assert dataset.origins.where(1) == f"{BAD / 'missing_label.csv'}, line 4"  # lines 3 and 6 were dropped


def test_given_split_from_the_command_line_and_from_the_schema():
    by_cli = read(tiny_variant(), {k: str(v) for k, v in GIVEN.items()}, method="given")
    files = {part: f"given/{part}.csv" for part in GIVEN}
    by_schema = read(tiny_variant(split={"method": "given", "files": files}), None)
    for dataset in (by_cli, by_schema):
        assert dataset.split.describe()["rows"] == {"train": 100, "validation": 30, "test": 30}
        assert dataset.split.describe()["files"]["validation"].endswith("given/validation.csv")
    np.testing.assert_array_equal(by_cli.labels, by_schema.labels)
    assert by_cli.origins.where(100) == f"{GIVEN['validation']}, line 2"


@pytest.mark.parametrize(
    ("data", "split", "message"),
    [
        ({"train": "a", "validation": "b"}, {"method": "given"}, "give exactly train=, validation= and test= paths"),
        ({"train": "a", "validation": "b", "test": "c"}, {"method": "time"}, "need the given split, not 'time'"),
        (None, {"method": "given"}, "the given split needs one path per part"),
        ("x.csv", None, "the schema's split.files name the data; drop --data"),
    ],
)
def test_given_split_arguments(data, split, message):
    schema = tiny_variant(split={"method": "given", "files": {p: f"given/{p}.csv" for p in GIVEN}})
    if split is not None:
        schema = tiny_variant()
    assert message in error_of(schema, data, **(split or {}))


def test_an_empty_given_part():
    data = {**GIVEN, "validation": BAD / "empty.csv"}
    assert error_of(tiny_variant(), data, method="given") == (
        f"the validation split is empty: {BAD / 'empty.csv'} has no rows with a label"
    )


def test_time_split_on_partition_dates():
    schema = tiny_variant(source={"format": "csv", "partition_column": "day"}, timestamp="day",
                          split={"method": "time", "sizes": [0.5, 0.25, 0.25]})  # fmt: skip
    dataset = read(schema, DATASETS / "partitions")
    days = dataset.columns["day"]
    assert set(days[dataset.split.train]) == {"2023-11-14", "2023-11-15"}
    assert set(days[dataset.split.test]) == {"2023-11-16"}
