"""docs/datasets.md's walkthrough is real: its schema parses and its inspect output is what the command prints."""

import re
import shutil
from pathlib import Path

from cli import main
from tests.conftest import TINY_DATA

DOC = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_walkthrough_inspect_output_matches_the_doc(tmp_path, capsys, monkeypatch):
    (tmp_path / "clicks.toml").write_text(blocks("toml")[0])
    shutil.copy(TINY_DATA, tmp_path / "clicks.csv")
    monkeypatch.chdir(tmp_path)
    console = blocks("console")[0]
    command, expected = console.split("\n", 1)
    assert command == "$ ctr dataset inspect clicks.toml clicks.csv --rows 1"
    assert main([*command.split()[2:], "--quiet"]) == 0
    assert capsys.readouterr().out == expected


def test_every_schema_key_is_documented():
    from contract.schema import FieldSpec
    from training.data.source import _KEYS_FOR

    text = DOC.read_text()
    keys = {f.name for f in FieldSpec.__dataclass_fields__.values()} | set(_KEYS_FOR) | {
        "format", "reader", "glob", "partition_column", "name", "description", "timestamp", "candidate_id", "column",
        "rule", "method", "sizes", "seed", "files"}  # fmt: skip
    missing = [key for key in sorted(keys) if f"| `{key}` |" not in text]
    assert not missing, missing
