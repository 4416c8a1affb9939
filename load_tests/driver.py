"""A small, reusable HTTP load driver: start a server pinned to a core, drive it closed-loop, summarise.

* :class:`ServerProcess` runs ``uvicorn app.main:create_app`` (one worker, uvloop + httptools) with the
  given ``CTR_*`` environment, pinned with ``taskset`` to one core, and waits for ``/readyz``. Pass e.g.
  ``{"CTR_STORE": "redis", ...}`` to drive another store with the same code.
* :func:`closed_loop` keeps ``connections`` keep-alive connections busy for ``seconds``, each sending the
  next pre-serialised body as soon as the previous answer arrived, and records every latency.
* The client is a minimal HTTP/1.1 writer/reader on asyncio streams: a general-purpose client spends
  hundreds of µs per request in Python, which would be measured as server latency.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``with ServerProcess(env, core=0) as server:`` — a one-worker server on a free loopback port."""

    def __init__(self, env: Mapping[str, str], core: int | None = 0, startup_seconds: float = 60.0) -> None:
        self.env = dict(env)
        self.core = core
        self.port = free_port()
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(self.port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                   "--log-level", "warning"]  # fmt: skip
        if self.core is not None:
            command = ["taskset", "-c", str(self.core), *command]
        env = {**os.environ, **self.env}
        self.process = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with code {self.process.returncode} during start-up")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"server not ready within {self.startup_seconds} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (Linux /proc): a cost per request that a
        busy machine inflates far less than wall-clock latency."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON bodies and reads Content-Length responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 24)
        return self

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


@dataclass(frozen=True)
class LoopResult:
    latencies_s: np.ndarray  # one per completed request
    seconds: float
    errors: int
    server_cpu_seconds: float | None = None  # CPU the server used during the measured part, if known

    @staticmethod
    def pooled(results: Sequence[LoopResult]) -> LoopResult:
        """Several runs of the same load (e.g. interleaved rounds) as one."""
        cpu = [r.server_cpu_seconds for r in results]
        return LoopResult(
            np.concatenate([r.latencies_s for r in results]),
            sum(r.seconds for r in results),
            sum(r.errors for r in results),
            None if None in cpu else sum(c for c in cpu if c is not None),
        )

    def summary(self, items_per_request: int) -> dict[str, Any]:
        """Requests/s, items (e.g. candidates)/s and latency percentiles in ms."""
        n = len(self.latencies_s)
        ms = self.latencies_s * 1e3 if n else np.zeros(1)
        return {
            "requests": n,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(n / self.seconds, 1),
            "items_per_s": round(n * items_per_request / self.seconds, 1),
            "server_cpu_ms_per_request": round(self.server_cpu_seconds * 1e3 / n, 4)
            if self.server_cpu_seconds is not None and n
            else None,
            "items_per_server_cpu_s": round(n * items_per_request / self.server_cpu_seconds, 1)
            if self.server_cpu_seconds
            else None,
            "latency_ms": {
                q: round(float(np.percentile(ms, p)), 3)
                for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
            },
        }


async def closed_loop(
    url: str,
    path: str,
    bodies: Sequence[bytes],
    connections: int,
    seconds: float,
    warmup_seconds: float = 0.5,
    server: ServerProcess | None = None,
) -> LoopResult:
    """Each connection sends the next body as soon as its previous answer arrived (closed loop).

    With ``server``, the server's CPU time over the measured part is recorded too.
    """
    host, port = url.removeprefix("http://").split(":")
    conns = [await Connection(host, int(port)).open() for _ in range(connections)]
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup_seconds
    stop = measure_from + seconds

    cpu_at_start: list[float] = []

    async def cpu_meter() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        if server is not None:
            cpu_at_start.append(server.cpu_seconds())

    async def worker(conn: Connection, offset: int) -> None:
        nonlocal errors
        i = offset
        while True:
            body = bodies[i % len(bodies)]
            i += 1
            sent = time.perf_counter()
            if sent >= stop:
                return
            status, _ = await conn.post(path, body)
            done = time.perf_counter()
            if sent >= measure_from:
                if status == 200:
                    latencies.append(done - sent)
                else:
                    errors += 1

    try:
        await asyncio.gather(cpu_meter(), *(worker(c, k) for k, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    elapsed = time.perf_counter() - measure_from
    cpu = server.cpu_seconds() - cpu_at_start[0] if server is not None and cpu_at_start else None
    return LoopResult(np.array(latencies), elapsed, errors, cpu)


def machine_info() -> dict[str, Any]:
    """Core count and load averages (other engineers share this machine: the load says how much)."""
    return {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())}


def use_core(core: int | None) -> None:
    """Pin this (load generator) process to ``core``, away from the server's."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
