"""Closed-loop throughput from ``wrk``: run it pinned to one CPU with ``wrk_post.lua`` and parse the result.

``wrk`` (C, epoll) keeps ``connections`` keep-alive connections busy for a fixed duration, each
sending its next request as soon as the previous answer arrives; the Lua script posts JSON bodies
from a file, rotating through them. The numbers come from the script's ``done()`` line
(``WRK_JSON {...}``); the human-readable summary is parsed as a cross-check and as a fallback.
Non-2xx answers (wrk's "status" errors) and socket errors are reported, never dropped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).with_name("wrk_post.lua")
WRK = "/usr/bin/wrk"
_JSON_LINE = re.compile(r"^WRK_JSON (\{.*\})\s*$", re.MULTILINE)
_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something this parser does not understand."""


@dataclass
class WrkResult:
    """One wrk run. ``non_2xx`` counts answers with any other status; ``socket_errors`` by kind."""

    requests: int
    seconds: float
    requests_per_second: float
    non_2xx: int
    socket_errors: dict[str, int]
    latency_ms: dict[str, float] = field(default_factory=dict)
    connections: int = 0
    command: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors}


def parse_output(text: str) -> WrkResult:
    """A :class:`WrkResult` from wrk's stdout (with or without the script's ``WRK_JSON`` line)."""
    match = _JSON_LINE.search(text)
    if match:
        data = json.loads(match.group(1))
        seconds = data["duration_us"] / 1e6
        errors = data["errors"]
        latency = {k: v / 1e3 for k, v in data["latency_us"].items()}
        rps = data["requests"] / seconds if seconds else 0.0
        return WrkResult(
            requests=data["requests"], seconds=seconds, requests_per_second=rps,
            non_2xx=errors["status"], socket_errors={k: errors[k] for k in ("connect", "read", "write", "timeout")},
            latency_ms=latency,
        )  # fmt: skip
    requests, rps = _REQUESTS_LINE.search(text), _RPS.search(text)
    if requests is None or rps is None:
        raise WrkError(f"cannot parse wrk output:\n{text}")
    non_2xx = _NON_2XX.search(text)
    sockets = _SOCKET_ERRORS.search(text)
    counts = [int(g) for g in sockets.groups()] if sockets else [0, 0, 0, 0]
    return WrkResult(
        requests=int(requests.group(1)), seconds=float(requests.group(2)) * _UNIT_SECONDS[requests.group(3)],
        requests_per_second=float(rps.group(1)), non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(("connect", "read", "write", "timeout"), counts, strict=True)),
    )  # fmt: skip


def write_bodies(bodies: Sequence[bytes], path: Path) -> Path:
    """One body per line, as ``wrk_post.lua`` reads them (compact JSON has no raw newlines)."""
    for body in bodies:
        if b"\n" in body:
            raise ValueError("a body contains a newline: serialise it compactly (orjson.dumps)")
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


def wrk_command(url: str, bodies_file: Path, *, connections: int, seconds: float, threads: int = 1,
                cpu: int | None = None, timeout_s: float = 5.0) -> list[str]:  # fmt: skip
    """The command line: ``taskset -c <cpu> wrk -t.. -c.. -d..s --timeout ..s -s wrk_post.lua <url> -- <file>``."""
    wrk = shutil.which("wrk") or WRK
    command = [wrk, f"-t{threads}", f"-c{max(connections, threads)}", f"-d{max(1, round(seconds))}s",
               f"--timeout={max(1, round(timeout_s))}s", "-s", str(LUA_SCRIPT), url, "--",
               str(bodies_file)]  # fmt: skip
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    return command


def run_wrk(url: str, bodies_file: Path, *, connections: int, seconds: float, threads: int = 1,
            cpu: int | None = None, headers: dict[str, str] | None = None) -> WrkResult:  # fmt: skip
    """Run wrk once (bounded: its own duration plus a grace period) and parse its result.

    ``headers`` go on every request; they reach the script through ``WRK_HEADERS`` (one ``Name: value``
    per line), never the command line, so an API key stays out of process lists and recorded commands.
    """
    if not (shutil.which("wrk") or Path(WRK).exists()):
        raise WrkError("wrk is not installed: run load_tests/setup.sh")
    command = wrk_command(url, bodies_file, connections=connections, seconds=seconds, threads=threads, cpu=cpu)
    try:
        env = {**os.environ, "WRK_HEADERS": "\n".join(f"{n}: {v}" for n, v in (headers or {}).items())}
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    result = parse_output(done.stdout)
    result.connections = connections
    result.command = command
    return result
