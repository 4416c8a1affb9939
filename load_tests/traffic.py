"""Steady traffic in a background thread while a test breaks things, and what the server process looks like.

The fault and soak runs (load_tests/faults.py, load_tests/soak.py) need requests flowing *while*
they kill a worker, stop Redis or fill a disk, and need to know afterwards exactly which requests
failed, when, how, and on which connection. :class:`Traffic` sends ``/v1/score`` requests open loop
at a fixed rate (load_tests/loadgen.py's keep-alive connections, at most ``connections`` in flight)
from its own thread and event loop; every request has a deadline (``timeout``, 5 s), so a hung
server shows up as ``timeout`` errors, never as a stuck test. A request that finds every connection
busy waits for one, within its deadline (``no_connection`` past it); its latency is measured from
its scheduled time, so the wait is not hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from contract.artifact import load_artifact
from load_tests.loadgen import Connection, HttpError
from load_tests.workload import Workload


def score_bodies(artifact: Path, n: int = 500, rows: int = 1, seed: int = 0) -> list[bytes]:
    """``n`` /v1/score bodies of ``rows`` records each, drawn from the artifact's own vocabularies."""
    workload = Workload(load_artifact(artifact, verify=False).encoder, seed=seed)
    out = []
    for _ in range(n):
        records = [{**workload.context(), **workload.side("candidate")} for _ in range(rows)]
        out.append(orjson.dumps({"records": records}))
    return out


@dataclass
class Outcome:
    """One request: times in seconds since the traffic started; ``error`` when no HTTP answer came."""

    sent: float
    latency: float
    status: int | None
    code: str | None = None  # the error body's "error" (non-200), or the client-side failure
    connection_opened: float = 0.0  # when the connection it used was opened (a reconnect: after a failure)


@dataclass
class Traffic:
    """``rate`` requests/s to ``path`` until :meth:`stop`; ``keep`` every outcome, or only the tallies."""

    port: int
    bodies: list[bytes]
    rate: float
    connections: int = 0  # default: ``rate`` clamped to 4..64
    path: str = "/v1/score"
    timeout: float = 5.0
    requests_per_connection: int | None = None  # reopen connections now and then (spreads them over workers)
    keep: bool = True
    outcomes: list[Outcome] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: array = field(default_factory=lambda: array("d"))
    first_errors: list[str] = field(default_factory=list)
    rows_ok: int = 0  # rows of the requests answered 200
    started: float = 0.0

    def __post_init__(self) -> None:
        # Connections are reused in turn, each well within uvicorn's 5 s keep-alive at >= 4 requests/s.
        self.connections = self.connections or max(4, min(64, int(self.rate)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="traffic", daemon=True)
        self._rows = [len(orjson.loads(body)["records"]) for body in self.bodies]

    def start(self) -> Traffic:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def now(self) -> float:
        """Seconds since the traffic started (the clock of every :class:`Outcome`)."""
        return time.monotonic() - self.started

    def stop(self) -> Traffic:
        self._stop.set()
        self._thread.join(self.timeout + 10)
        return self

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    def errors(self) -> int:
        """Requests not answered 200 (HTTP errors and client-side failures alike)."""
        return sum(n for status, n in self.statuses.items() if status != "200")

    async def _run(self) -> None:
        pool: asyncio.Queue[tuple[Connection, float, int]] = asyncio.Queue()
        for _ in range(self.connections):
            pool.put_nowait((Connection("127.0.0.1", self.port), 0.0, 0))
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while not self._stop.is_set():
            scheduled = self.started + i / self.rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(min(delay, 0.1))
                continue
            try:
                slot = pool.get_nowait()
            except asyncio.QueueEmpty:
                # Every connection is waiting for an answer: wait for one (the wait counts in the latency,
                # measured from the scheduled time) up to the request deadline. Dropping at once would
                # turn a short stall of this driver (its catch-up burst) into errors of the server.
                try:
                    slot = await asyncio.wait_for(pool.get(), max(0.0, scheduled + self.timeout - time.monotonic()))
                except TimeoutError:
                    self._record(Outcome(scheduled - self.started, self.timeout, None, "no_connection"), 0)
                    i += 1
                    continue
            task = asyncio.create_task(self._one(i, scheduled, slot, pool))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks)
        while not pool.empty():
            await pool.get_nowait()[0].close()

    async def _one(self, i: int, scheduled: float, slot: tuple[Connection, float, int],
                   pool: asyncio.Queue[tuple[Connection, float, int]]) -> None:  # fmt: skip
        connection, opened, used = slot
        if connection.writer is None:
            opened = self.now()
        body = self.bodies[i % len(self.bodies)]
        code: str | None = None
        status: int | None = None
        try:
            status, answer = await asyncio.wait_for(connection.post(self.path, body), self.timeout)
            if status != 200:
                code = _error_code(answer)
        except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError) as exc:
            code = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            if len(self.first_errors) < 10:
                self.first_errors.append(f"{code}: {exc}")
            await connection.close()
        used += 1
        if self.requests_per_connection is not None and used >= self.requests_per_connection:
            await connection.close()
            used = 0
        self._record(Outcome(scheduled - self.started, time.monotonic() - scheduled, status, code, opened),
                     self._rows[i % len(self.bodies)])  # fmt: skip
        pool.put_nowait((connection, opened, used))

    def _record(self, outcome: Outcome, rows: int) -> None:
        self.statuses[str(outcome.status) if outcome.status is not None else str(outcome.code)] += 1
        if outcome.status is not None:
            self.latencies.append(outcome.latency)
        if outcome.status == 200:
            self.rows_ok += rows
        if self.keep:
            self.outcomes.append(outcome)


def _error_code(answer: bytes) -> str:
    """The one error body's ``error``, or ``not_the_error_body`` when the body is anything else."""
    try:
        parsed = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "not_the_error_body"
    if isinstance(parsed, dict) and set(parsed) == {"error", "detail", "field"} and isinstance(parsed["error"], str):
        return parsed["error"]
    return "not_the_error_body"


# -- the server process, seen from outside ---------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def worker_pids(supervisor: int) -> list[int]:
    """uvicorn's worker processes under ``supervisor`` (children started by multiprocessing's spawn)."""
    pids = []
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    workers = []
    for pid in pids:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in command and b"resource_tracker" not in command:
                workers.append(pid)
    return sorted(workers)


def summary(traffic: Traffic) -> dict[str, Any]:
    """The JSON-able tallies of a run: requests sent, statuses, errors, latency percentiles."""
    import numpy as np

    ms = np.asarray(traffic.latencies) * 1e3
    latency = {}
    if len(ms):
        latency = dict(zip(("p50", "p99", "max"), map(float, np.percentile(ms, [50, 99, 100])), strict=True))
    return {"requests_sent": traffic.sent, "statuses": dict(traffic.statuses), "errors": traffic.errors(),
            "first_errors": traffic.first_errors, "latency_ms": latency, "rate": traffic.rate,
            "connections": traffic.connections}  # fmt: skip


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels`` (0 when none is exposed)."""
    total = 0.0
    for series, value in samples.items():
        base, _, rest = series.partition("{")
        if base != name:
            continue
        found = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if part)
        if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
            total += value
    return total


def first_success_after(traffic: Traffic, moment: float) -> float | None:
    """Seconds from ``moment`` to the first 200 answer of a request sent at or after it (None: none came)."""
    done = [o.sent + o.latency for o in traffic.outcomes if o.status == 200 and o.sent >= moment]
    return min(done) - moment if done else None


def log_rows(directory: Path) -> tuple[int, bool]:
    """Lines in the visible log segments under ``directory``, and whether every one is a whole JSON object."""
    n, whole = 0, True
    for path in sorted(directory.rglob("*.jsonl")):
        with open(path, "rb") as fh:
            for line in fh:
                n += 1
                try:
                    whole = whole and line.endswith(b"\n") and isinstance(orjson.loads(line), dict)
                except orjson.JSONDecodeError:
                    whole = False
    return n, whole
