from pathlib import Path

import pytest

from training.data import DataError
from training.data.files import list_files, partition_date
from training.data.source import SourceSpec


@pytest.mark.parametrize(
    ("path", "date"),
    [
        ("dt=2024-01-31/part-00000.csv", "2024-01-31"),
        ("2024-02-29.csv", "2024-02-29"),
        ("20240301.parquet", "2024-03-01"),
        ("year/dt=2024-01-01/hour=05/2024-01-02.csv", "2024-01-02"),  # the innermost date wins
        ("dt=2024-01-01/part-99999999.csv", "2024-01-01"),  # 8 digits that are no date are skipped
    ],
)
def test_partition_dates(path, date):
    assert partition_date(Path(path)) == date


def test_a_partition_without_a_date_is_named():
    with pytest.raises(DataError, match=r"part-0\.csv: no partition date in this path"):
        partition_date(Path("data/part-0.csv"))


def test_directory_listing_skips_markers_and_sorts_by_date(tmp_path):
    for name in ("b/2024-01-02.csv", "a/2024-01-03.csv", "a/2024-01-01.csv", "_SUCCESS", ".a.csv.crc", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    by_path = list_files(tmp_path, SourceSpec(format="csv"))
    assert [f.path.relative_to(tmp_path).as_posix() for f in by_path] == [
        "a/2024-01-01.csv", "a/2024-01-03.csv", "b/2024-01-02.csv"]  # fmt: skip
    by_date = list_files(tmp_path, SourceSpec(format="csv", partition_column="day"))
    assert [f.date for f in by_date] == ["2024-01-01", "2024-01-02", "2024-01-03"]
