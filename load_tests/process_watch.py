"""The server process seen from outside, for the abuse scenarios: its RSS (and its workers'), its log."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the thread or process ended meanwhile
                todo.extend(int(c) for c in task.read_text().split())
    return out


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (the workers of ``ctr serve``)."""
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, IndexError):  # ended meanwhile
            total += int(Path(f"/proc/{p}/status").read_text().split("VmRSS:")[1].split()[0]) * 1024
    return total


class RssPeak:
    """The largest RSS of a process tree, sampled every ``every`` s in a thread while in the ``with`` block."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # a process ending between two reads of /proc
                self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(self.every)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def server_log_problems(log_file: Path) -> list[str]:
    """Lines of the server's log that show a bug: tracebacks, errors, uvicorn's 500s."""
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    bad = ("Traceback", '"level": "error"', "ERROR", "Exception in ASGI application", "unhandled error")
    return [line[:300] for line in text.splitlines() if any(b in line for b in bad)]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
