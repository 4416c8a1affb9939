"""A small, bounded asyncio HTTP/1.1 load driver (closed loop, or open loop at a fixed rate).

It speaks just enough HTTP/1.1 for our server (keep-alive POSTs, ``Content-Length`` responses) on
raw asyncio streams: a general client such as httpx costs ~10x more CPU per request, which on a
2-core machine would measure the driver rather than the server.

* :func:`closed_loop` — ``concurrency`` connections, each sending its next request as soon as the
  previous answer arrives; measures throughput.
* :func:`open_loop` — requests scheduled at a fixed ``rate``, at most ``max_in_flight`` at once;
  latency is measured from each request's *scheduled* time, so a stalled server is not hidden by
  the driver waiting for it (no coordinated omission). Requests that find no free connection are
  counted as ``dropped``, never queued without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


class HttpError(RuntimeError):
    """The server answered something this driver does not parse (it expects Content-Length bodies)."""


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str] | None = None) -> None:
        self.host, self.port = host, port
        # extra request headers (e.g. an API key), formatted once
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"{self.extra}Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed by the server")
        status = int(status_line.split(b" ", 2)[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise HttpError("response without Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None


@dataclass
class RunResult:
    """What one run measured; latencies in milliseconds."""

    mode: str
    requests: int
    seconds: float
    statuses: dict[str, int]
    latency_ms: dict[str, float]
    requests_per_second: float
    concurrency: int | None = None
    target_rate: float | None = None
    dropped: int = 0
    errors: list[str] = field(default_factory=list)
    # open loop: how late the driver sent each request after its scheduled time (its own backlog);
    # large values mean the driver, not the server, limited the offered load
    send_lag_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(latencies_s: Sequence[float]) -> dict[str, float]:
    if not latencies_s:
        return {}
    ms = np.asarray(latencies_s) * 1e3
    p50, p90, p95, p99, p999 = np.percentile(ms, [50, 90, 95, 99, 99.9])
    return {"p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99), "p99.9": float(p999),
            "mean": float(ms.mean()), "max": float(ms.max())}  # fmt: skip


async def closed_loop(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    requests: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> RunResult:
    """Send ``requests`` bodies (default: each body once, in order) over ``concurrency`` connections."""
    total = len(bodies) if requests is None else requests
    counter = itertools.count()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []

    async def worker() -> None:
        connection = await Connection(host, port, headers).open()
        try:
            while (i := next(counter)) < total:
                started = time.perf_counter()
                try:
                    status, _ = await connection.post(path, bodies[i % len(bodies)])
                except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    statuses["error"] += 1
                    await connection.close()
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(status)] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return RunResult("closed", total, seconds, dict(statuses), summarise(latencies), total / seconds,
                     concurrency=concurrency, errors=errors[:5])  # fmt: skip


async def open_loop(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[bytes],
    *,
    rate: float,
    seconds: float,
    max_in_flight: int = 64,
    headers: Mapping[str, str] | None = None,
) -> RunResult:
    """Schedule requests at ``rate`` per second for ``seconds``; at most ``max_in_flight`` outstanding."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(max_in_flight):
        pool.put_nowait(Connection(host, port, headers))
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    dropped = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(body: bytes, scheduled: float, connection: Connection) -> None:
        try:
            status, _ = await connection.post(path, body)
            latencies.append(time.perf_counter() - scheduled)
            statuses[str(status)] += 1
        except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            statuses["error"] += 1
            await connection.close()
        finally:
            pool.put_nowait(connection)

    n = int(rate * seconds)
    lags: list[float] = []
    start = time.perf_counter()
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - scheduled)
        try:
            connection = pool.get_nowait()
        except asyncio.QueueEmpty:
            dropped += 1
            continue
        task = asyncio.create_task(one(bodies[i % len(bodies)], scheduled, connection))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        await pool.get_nowait().close()
    done = sum(statuses.values())
    return RunResult("open", done, elapsed, dict(statuses), summarise(latencies), done / elapsed,
                     target_rate=rate, dropped=dropped, errors=errors[:5], send_lag_ms=summarise(lags))  # fmt: skip
