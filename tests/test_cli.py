"""The `ctr` command as a user meets it: real processes, exit codes and messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ctr(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_explains_every_command():
    result = ctr("--help")
    assert result.returncode == 0
    for command in ("train", "serve", "score"):
        assert command in result.stdout
    assert "--split" in ctr("train", "--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "--dataset", "nope.toml"), "schema file not found"),
        (("train", "--dataset", "tests/fixtures/tiny.toml"), "needs a data path"),
        (("train", "--dataset", "tests/fixtures/tiny.toml", "--data", "tests/fixtures/tiny.csv", "--lr", "-1"),
         "invalid training setting lr=-1.0"),
        (("score", "--record", "{}", "--url", "http://127.0.0.1:9"), "cannot reach"),
        (("score", "--record", "{not json"), "error"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_a_message(args, message):
    result = ctr(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_train_then_serve_then_score_with_real_processes(tmp_path):
    trained = ctr("train", "--dataset", "tests/fixtures/tiny.toml", "--data", "tests/fixtures/tiny.csv",
                  "--out", str(tmp_path), "--epochs", "3", "--dim", "4", "--quiet")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert 0.0 <= summary["test"]["auc"] <= 1.0
    assert "test AUC" in trained.stderr
    version_dir = Path(summary["artifact"])
    assert (tmp_path / "tiny" / "ACTIVE").read_text().strip() == version_dir.name
    # the schema names candidate_id = "item": the version comes with its catalog (every training item)
    assert summary["catalog"]["key_field"] == "item" and summary["catalog"]["items"] > 20
    generation = (version_dir / "catalog" / "CURRENT").read_text().strip()
    assert generation == summary["catalog"]["generation"]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--model-dir", str(tmp_path / "tiny"), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                    assert json.loads(response.read())["model_version"] == version_dir.name
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
        scored = ctr("score", "--url", url, "--file", str(version_dir / "sample_request.json"), "--report-oov")
        assert scored.returncode == 0, scored.stderr
        assert scored.stdout.count("p(click)=") == 5
        rejected = ctr("score", "--url", url, "--record", '{"user": 1, "item": 2, "price": "x"}')
        assert rejected.returncode == 1
        assert json.loads(rejected.stdout)["field"] == "price"
        known = json.loads((version_dir / "catalog" / generation / "keys.json").read_text())[0]
        ranked = ctr("rank", "--url", url, "--context", '{"user": 7}', "--ids", f"{known},123456789", "--json")
        assert ranked.returncode == 0, ranked.stderr
        assert json.loads(ranked.stdout)["unknown_indices"] == [1]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_catalog_build_from_a_dataset_and_from_items(tmp_path):
    trained = ctr("train", "--dataset", "tests/fixtures/tiny.toml", "--data", "tests/fixtures/tiny.csv",
                  "--out", str(tmp_path), "--epochs", "1", "--dim", "2", "--quiet")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    version_dir = Path(json.loads(trained.stdout)["artifact"])
    built = ctr("catalog", "build", str(tmp_path / "tiny"), "--dataset", "tests/fixtures/tiny.toml",
                "--data", "tests/fixtures/tiny.csv")  # fmt: skip
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout)
    assert summary["version"] == version_dir.name and summary["activated"]
    assert summary["items"] > json.loads(trained.stdout)["catalog"]["items"]  # every row, not just training's
    assert (version_dir / "catalog" / "CURRENT").read_text().strip() == summary["generation"]
    items = tmp_path / "items.jsonl"
    items.write_text('{"item": 5, "tags": ["news"], "title": "ignored"}\n\n{"item": 6, "price": "cheap"}\n')
    bad = ctr("catalog", "build", str(version_dir), "--items", str(items))
    assert bad.returncode == 2 and "items.jsonl, line 3: price: expected a number" in bad.stderr
    assert "Traceback" not in bad.stderr
    items.write_text('{"item": 5, "tags": ["news"], "title": "ignored"}\n')
    kept = ctr("catalog", "build", str(version_dir), "--items", str(items), "--no-activate")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["items"] == 1
    assert (version_dir / "catalog" / "CURRENT").read_text().strip() == summary["generation"]  # not activated
    missing = ctr("catalog", "build", str(tmp_path / "nope"), "--items", str(items))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# -- what a first-time user hit (issue 16.10) ------------------------------------------------------
def test_help_shows_a_default_once_and_never_for_a_flag():
    for command in ("train", "publish", "serve", "score", "rank"):
        text = " ".join(ctr(command, "--help").stdout.split())  # argparse wraps lines
        assert "(default: None)" not in text and "(default: True)" not in text and "(default: False)" not in text
    publish = " ".join(ctr("publish", "--help").stdout.split())
    assert "--no-activate publish without activating --chunk" in publish
    assert "--keep KEEP newest versions kept (>= 2; the active one always) (default: 3)" in publish
    assert "(default: from --config) (default:" not in " ".join(ctr("train", "--help").stdout.split())


def test_version():
    result = ctr("--version")
    assert result.returncode == 0 and result.stdout.startswith("ctr 0.")


def test_a_closed_pipe_is_not_a_traceback():
    command = [sys.executable, "-m", "cli", "dataset", "inspect", "tests/fixtures/tiny.toml", "tests/fixtures/tiny.csv",
               "--quiet", "--rows", "50"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head` that has read enough
    _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert process.returncode == 141


def test_no_progress_bar_frames_when_stderr_is_not_a_terminal(tmp_path):
    lines = (ROOT / "tests/fixtures/tiny.csv").read_text().splitlines()
    lines[500] += ",extra"  # the count pass reads 500 rows with its bar up, then fails
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    result = ctr("dataset", "inspect", "tests/fixtures/tiny.toml", str(tmp_path / "bad.csv"))
    assert result.returncode == 2
    assert "\r" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("ctr dataset inspect: error: ")


def test_an_empty_file_says_so(tmp_path):
    (tmp_path / "empty.csv").write_text("ts,user,item,device,price,tags,clicked\n")
    result = ctr("dataset", "inspect", "tests/fixtures/tiny.toml", str(tmp_path / "empty.csv"))
    assert result.returncode == 2
    assert "empty.csv: no rows (the data is empty)" in result.stderr and "{}" not in result.stderr


def test_a_typo_in_a_schema_key_suggests_the_key(tmp_path):
    schema = (ROOT / "tests/fixtures/tiny.toml").read_text().replace("min_count = 2", "min_cout = 2")
    (tmp_path / "typo.toml").write_text(schema)
    result = ctr("dataset", "inspect", str(tmp_path / "typo.toml"), "tests/fixtures/tiny.csv")
    assert result.returncode == 2
    assert "fields[2].min_cout: unknown key (did you mean 'min_count'?)" in result.stderr


def test_the_score_table_shows_lists_as_lists():
    from app.cli.tables import short

    assert short(["Action", "Adventure"]) == "[Action, Adventure]"
