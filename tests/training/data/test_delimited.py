"""The CSV reader's background thread must be stopped before the process exits (issue 16.2).

pyarrow's streaming CSV reader reads ahead on a thread of its own. When a parse error ended the
read without closing the reader, that thread could still be running at interpreter exit, and the
process died with ``terminate called without an active exception`` (exit 134) instead of exit 2 —
in about one run in ten, more often on a loaded machine. Each case runs in many fresh processes.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import TINY_DATA, TINY_SCHEMA
from tests.test_isolation import ROOT

CTR = Path(sys.executable).with_name("ctr")  # the installed command, as a user runs it
RUNS = 48


@pytest.fixture(params=["extra_field", "header_only"])
def bad_csv(request, tmp_path):
    lines = TINY_DATA.read_text().splitlines()
    if request.param == "extra_field":
        lines[10] += ",extra"
    else:
        lines = lines[:1]
    path = tmp_path / f"{request.param}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, request.param


def test_a_parse_error_exits_cleanly_every_time(bad_csv):
    path, _ = bad_csv

    def run(_: int) -> int:
        cmd = [str(CTR), "dataset", "inspect", str(TINY_SCHEMA), str(path), "--quiet"]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=120).returncode

    with ThreadPoolExecutor(4) as pool:  # concurrent runs load the machine, which makes the race likelier
        codes = list(pool.map(run, range(RUNS)))
    assert codes == [2] * RUNS, f"exit codes seen: {sorted(set(codes))}"
