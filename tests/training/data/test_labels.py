import numpy as np
import pytest

from tests.training.data.conftest import tiny_variant
from training.data import DataError
from training.data.chunks import Chunk, object_array
from training.data.labels import derive, to_seconds


def chunk(**columns):
    n = len(next(iter(columns.values())))
    return Chunk({k: object_array(v) for k, v in columns.items()}, "f.csv", np.arange(2, n + 2), "line")


def test_missing_labels_are_dropped_and_counted():
    schema = tiny_variant()
    got = derive(chunk(clicked=["1", "", None, "0", float("nan")], ts=["1"] * 5), schema, timestamps=False)
    assert got.keep.tolist() == [True, False, False, True, False]
    assert got.labels.tolist() == [1.0, 0.0]
    assert got.dropped == {"missing_label": 3}


def test_missing_timestamps_are_dropped_only_for_a_time_split():
    schema = tiny_variant()
    data = chunk(clicked=["1", "0", ""], ts=["", "5", ""])
    assert derive(data, schema, timestamps=False).dropped == {"missing_label": 1}
    got = derive(data, schema, timestamps=True)
    assert got.keep.tolist() == [False, True, False]
    assert got.dropped == {"missing_label": 1, "missing_timestamp": 1}  # a row is counted for one reason
    assert got.timestamps.tolist() == [5.0]


def test_label_rule_makes_any_number_binary():
    schema = tiny_variant(label={"column": "clicked", "rule": ">= 4"})
    got = derive(chunk(clicked=["5", "3.5", 4, "-1"]), schema, timestamps=False)
    assert got.labels.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["1", "0", "2"], "f.csv, line 4: label column 'clicked' is 2, not 0 or 1; add a label.rule"),
        (["1", "yes"], "f.csv, line 3: label column 'clicked' has 'yes', not a number"),
        (["-1", "1"], '"> 0" for -1/1 labels'),
    ],
)
def test_bad_labels_name_the_line(labels, message):
    with pytest.raises(DataError) as info:
        derive(chunk(clicked=labels), tiny_variant(), timestamps=False)
    assert message in str(info.value)


def test_timestamps_numbers_iso_dates_and_datetimes():
    c = chunk(x=[1])
    assert to_seconds(object_array(["10", 20, ""]), c, "ts")[:2].tolist() == [10.0, 20.0]
    days = to_seconds(object_array(["1970-01-02", "1970-01-01T00:01:00", None]), c, "ts")
    assert days[:2].tolist() == [86400.0, 60.0] and np.isnan(days[2])
    assert to_seconds(np.array(["1970-01-03"], dtype="datetime64[D]"), c, "ts").tolist() == [172800.0]


def test_bad_timestamps_name_the_line():
    with pytest.raises(DataError, match=r"f.csv, line 3: ts has '17', neither a number nor an ISO date/time"):
        to_seconds(object_array(["2024-01-01", "17"]), chunk(x=[1, 2]), "ts")
    with pytest.raises(DataError, match=r"line 2: ts has 'soon'"):
        to_seconds(object_array(["soon"]), chunk(x=[1]), "ts")
