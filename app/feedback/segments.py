"""Where logged rows land on disk: JSON lines in daily partitions, in segments that appear whole.

::

    <CTR_IMPRESSION_DIR>/date=2026-12-03/impressions-20261203T101500-host-4711-0.jsonl
    <CTR_IMPRESSION_DIR>/date=2026-12-03/feedback-20261203T101500-host-4711-0.jsonl

A segment is written as a hidden ``.<name>.open`` file and renamed to its visible name when it is
rotated (every ``CTR_IMPRESSION_ROTATE_SECONDS``) or the server stops. Readers (``ctr join``, the
trainer's readers) skip hidden files, so every visible file holds only whole records. Names carry the
host and the process id, so workers and replicas never write the same file. A write that fails (disk
full) is cut back to the last whole record before the error is raised. A segment left open by a
process that died (SIGKILL, OOM) is recovered by the next server on the host: cut to its last whole
line and renamed with ``-recovered``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

OPEN_SUFFIX = ".open"


@dataclass
class _Segment:
    path: Path  # the hidden file being written
    visible: Path  # its name once complete
    fd: int
    size: int
    opened: float


class SegmentSink:
    """Appends whole-record byte strings to per-(stream, day) segments under ``root``."""

    def __init__(self, root: Path, rotate_seconds: float) -> None:
        self.root = Path(root)
        self.rotate_seconds = rotate_seconds
        self.host = socket.gethostname().replace("-", "_")
        self.pid = os.getpid()
        self._open: dict[tuple[str, str], _Segment] = {}
        self._sequence = 0
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, stream: str, day: str, data: bytes) -> None:
        """Append ``data`` (whole JSON lines); on OSError the segment is cut back and the error raised."""
        segment = self._open.get((stream, day)) or self._start(stream, day)
        try:
            written = os.write(segment.fd, data)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
        except OSError:
            os.ftruncate(segment.fd, segment.size)  # never leave half a record
            raise
        segment.size += len(data)

    def rotate(self, force: bool = False) -> None:
        """Make segments older than ``rotate_seconds`` (all with ``force``) visible."""
        now = time.time()
        for key, segment in list(self._open.items()):
            if force or now - segment.opened >= self.rotate_seconds:
                self._finish(key, segment)

    def close(self) -> None:
        self.rotate(force=True)

    def _start(self, stream: str, day: str) -> _Segment:
        folder = self.root / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stream}-{stamp}-{self.host}-{self.pid}-{self._sequence}.jsonl"
        self._sequence += 1
        hidden = folder / f".{name}{OPEN_SUFFIX}"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        segment = self._open[(stream, day)] = _Segment(hidden, folder / name, fd, 0, time.time())
        return segment

    def _finish(self, key: tuple[str, str], segment: _Segment) -> None:
        del self._open[key]
        os.fsync(segment.fd)
        os.close(segment.fd)
        if segment.size:
            os.rename(segment.path, segment.visible)
        else:
            segment.path.unlink(missing_ok=True)


def recover_orphans(root: Path) -> list[Path]:
    """Segments left open by dead processes of this host: cut to the last whole line, made visible."""
    host = socket.gethostname().replace("-", "_")
    recovered = []
    for hidden in Path(root).glob(f"date=*/.*{OPEN_SUFFIX}"):
        name = hidden.name[1 : -len(OPEN_SUFFIX)]
        parts = name.removesuffix(".jsonl").split("-")
        if len(parts) < 5 or parts[-3] != host or _alive(int(parts[-2])):
            continue
        data = hidden.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if whole:
            target = hidden.with_name(name.replace(".jsonl", "-recovered.jsonl"))
            hidden.write_bytes(whole)
            os.rename(hidden, target)
            recovered.append(target)
        else:
            hidden.unlink()
    return recovered


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
