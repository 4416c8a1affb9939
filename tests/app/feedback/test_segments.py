"""Log segments: whole records only, visible once complete, cut back on a failed write, recovered after a kill."""

import json
import os
import subprocess
import sys

import pytest

from app.feedback.segments import SegmentSink, recover_orphans


def visible(root):
    return sorted(p for p in root.rglob("*.jsonl") if not p.name.startswith("."))


def test_a_segment_appears_whole_when_rotated(tmp_path):
    sink = SegmentSink(tmp_path, rotate_seconds=3600)
    sink.write("impressions", "2026-12-03", b'{"a": 1}\n{"a": 2}\n')
    assert visible(tmp_path) == []  # still open, hidden from readers
    sink.rotate()
    assert visible(tmp_path) == []  # not old enough
    sink.close()
    (path,) = visible(tmp_path)
    assert path.parent.name == "date=2026-12-03" and path.name.startswith("impressions-")
    assert f"-{os.getpid()}-" in path.name
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"a": 1}, {"a": 2}]


def test_a_failed_write_leaves_no_half_record(tmp_path, monkeypatch):
    sink = SegmentSink(tmp_path, rotate_seconds=3600)
    sink.write("impressions", "2026-12-03", b'{"a": 1}\n')
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, data[:5])  # the device took part of it, then filled up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError):
        sink.write("impressions", "2026-12-03", b'{"a": 2}\n')
    monkeypatch.undo()
    sink.write("impressions", "2026-12-03", b'{"a": 3}\n')
    sink.close()
    (path,) = visible(tmp_path)
    assert path.read_text() == '{"a": 1}\n{"a": 3}\n'


KILLED_WHILE_WRITING = """
import os, signal, sys
from pathlib import Path
from app.feedback.segments import SegmentSink
sink = SegmentSink(Path(sys.argv[1]), rotate_seconds=3600)
sink.write("impressions", "2026-12-03", b'{"row": 0}\\n{"row": 1}\\n')
fd = sink._open[("impressions", "2026-12-03")].fd
os.write(fd, b'{"row": 2, "half')  # a record cut by the kill
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_segment_left_open_by_a_dead_process_is_recovered(tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, str(tmp_path)], capture_output=True)
    assert result.returncode == -9
    assert visible(tmp_path) == []
    (path,) = recover_orphans(tmp_path)
    assert path.name.endswith("-recovered.jsonl") and visible(tmp_path) == [path]
    assert [json.loads(line)["row"] for line in path.read_text().splitlines()] == [0, 1]


def test_a_live_process_segment_is_left_alone(tmp_path):
    sink = SegmentSink(tmp_path, rotate_seconds=3600)
    sink.write("feedback", "2026-12-03", b'{"a": 1}\n')
    assert recover_orphans(tmp_path) == []
    sink.close()
