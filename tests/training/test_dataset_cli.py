"""`ctr dataset inspect` and the data arguments of `ctr train`, run as a user would."""

import json
import subprocess
import sys

import pytest

from cli import main
from tests.conftest import TINY_DATA, TINY_SCHEMA
from tests.test_isolation import BLOCK_TORCH, ROOT
from tests.training.data.conftest import BAD, DATASETS

GIVEN = [f"{part}={DATASETS / 'given' / f'{part}.csv'}" for part in ("train", "validation", "test")]


def test_inspect_prints_a_readable_report(capsys):
    assert main(["dataset", "inspect", str(TINY_SCHEMA), str(TINY_DATA), "--quiet", "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "rows: 600 read, 600 kept (dropped: none)" in out
    assert "split: time: train 420 (positive 0.417) / validation 90 (positive 0.411) / test 90" in out
    assert "field   kind               side       distinct(train)  vocabulary  missing(valid)  oov(valid)" in out
    assert "price   numeric            candidate  -                4 buckets   0.0%            -" in out
    assert out.count("validation row") == 2 and f"({TINY_DATA}, line 422), label 0:" in out


def test_inspect_json_and_split_options(capsys):
    args = ["dataset", "inspect", str(TINY_SCHEMA), str(TINY_DATA), "--quiet", "--json", "--split", "random",
            "--split-seed", "3", "--split-sizes", "0.5,0.25,0.25"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"]["rows"] == {"train": 300, "validation": 150, "test": 150}
    assert report["split"]["seed"] == 3
    assert [f["name"] for f in report["fields"]] == ["user", "device", "item", "price", "tags"]


def test_inspect_given_parts(capsys):
    assert main(["dataset", "inspect", str(TINY_SCHEMA), *GIVEN, "--quiet", "--rows", "0"]) == 0
    assert "split: given: train 100 (positive" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(TINY_SCHEMA), str(BAD / "text_in_numeric.csv")],
         "text_in_numeric.csv, line 5: price: expected a number, got 'cheap'"),
        ([str(TINY_SCHEMA), str(BAD / "missing_column.csv")], "missing column(s) 'price'"),
        ([str(TINY_SCHEMA), GIVEN[0], GIVEN[1]], "a given split needs exactly train=<path> validation=<path> test="),
        ([str(TINY_SCHEMA), str(TINY_DATA), "--split", "given"], "the given split needs one path per part"),
        ([str(TINY_SCHEMA)], "dataset 'tiny' needs a data path (its schema declares format = 'csv'): "
                             "`ctr train --data <path>`, `ctr dataset inspect <schema> <path>`"),
        ([str(DATASETS / "nope.toml"), str(TINY_DATA)], "schema file not found"),
    ],
)  # fmt: skip
def test_bad_data_exits_2_with_a_message(capsys, args, message):
    assert main(["dataset", "inspect", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ctr dataset inspect: error: ") or err.startswith("ctr dataset: error: ")
    assert message in err
    assert "Traceback" not in err


def test_bad_split_sizes_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["dataset", "inspect", str(TINY_SCHEMA), str(TINY_DATA), "--split-sizes", "0.5,0.5"])
    assert info.value.code == 2
    assert "expected three positive fractions summing to 1" in capsys.readouterr().err


def test_inspect_runs_without_torch():
    code = BLOCK_TORCH + (
        "from cli import main\n"
        f"rc = main(['dataset', 'inspect', {str(TINY_SCHEMA)!r}, {str(TINY_DATA)!r}, '--quiet'])\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules)\nsys.exit(rc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "rows: 600 read" in result.stdout


def test_train_on_given_parts_and_bad_data(capsys, tmp_path):
    pytest.importorskip("torch")
    args = ["train", "--dataset", str(TINY_SCHEMA), "--epochs", "1", "--dim", "2", "--quiet", "--no-export"]
    assert main([*args, *[a for part in GIVEN for a in ("--data", part)]]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["split"]["method"] == "given"
    assert summary["split"]["rows"] == {"train": 100, "validation": 30, "test": 30}
    assert main([*args, "--data", str(BAD / "label_not_binary.csv")]) == 2
    err = capsys.readouterr().err
    assert "ctr train: error: " in err and "label_not_binary.csv, line 4: label column 'clicked' is 2" in err


def test_train_records_dropped_rows_in_the_manifest(capsys, tmp_path):
    pytest.importorskip("torch")
    lines = TINY_DATA.read_text().splitlines()
    for i in (3, 50):
        lines[i] = lines[i].rsplit(",", 1)[0] + ","  # no label
    data = tmp_path / "holes.csv"
    data.write_text("\n".join(lines) + "\n")
    args = ["train", "--dataset", str(TINY_SCHEMA), "--data", str(data), "--epochs", "1", "--dim", "2", "--quiet",
            "--out", str(tmp_path / "models")]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["dropped_rows"] == {"missing_label": 2}
    manifest = json.loads((tmp_path / "models" / "tiny" / summary["artifact"].rsplit("/", 1)[1] /
                           "manifest.json").read_text())  # fmt: skip
    assert manifest["dataset"]["dropped_rows"] == {"missing_label": 2}
    assert manifest["split"]["rows"]["train"] == 419


@pytest.mark.parametrize("raw", ["--5", "²", "٣"])
def test_an_integer_id_int_refuses_names_file_and_line(capsys, tmp_path, raw):
    """str.isdigit accepts these, int() does not (or reads another spelling): a data error, not a crash."""
    pytest.importorskip("torch")
    lines = TINY_DATA.read_text().splitlines()
    cells = lines[5].split(",")
    cells[1] = raw  # the `user` column, dtype = "int"
    lines[5] = ",".join(cells)
    data = tmp_path / "bad_id.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in (["dataset", "inspect", str(TINY_SCHEMA), str(data), "--quiet"],
                    ["train", "--dataset", str(TINY_SCHEMA), "--data", str(data), "--epochs", "1", "--quiet",
                     "--no-export"]):  # fmt: skip
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"bad_id.csv, line 6: user: expected an integer id, got {raw!r}" in err, err


def test_inspect_refuses_what_train_refuses(capsys, tmp_path):
    """A required field empty in the training part: train stops on that line, so inspect must too (16.3)."""
    pytest.importorskip("torch")
    lines = TINY_DATA.read_text().splitlines()
    cells = lines[5].split(",")  # line 6: an early row, in the training part of the time split
    cells[1] = ""  # `user` is required
    lines[5] = ",".join(cells)
    data = tmp_path / "no_user.csv"
    data.write_text("\n".join(lines) + "\n")
    expected = "no_user.csv, line 6: user: required field is missing"
    assert main(["dataset", "inspect", str(TINY_SCHEMA), str(data), "--quiet"]) == 2
    assert expected in capsys.readouterr().err
    assert main(["train", "--dataset", str(TINY_SCHEMA), "--data", str(data), "--quiet", "--no-export"]) == 2
    assert expected in capsys.readouterr().err
