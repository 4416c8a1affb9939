"""Clients for the abuse scenarios (load_tests/abuse.py): timed normal traffic, misbehaving sockets, RSS.

Everything is plain threads and blocking sockets so that a misbehaving client is exactly what it
claims to be (one byte a second is one ``send`` of one byte a second), with no client library
buffering, retrying or timing out on its own.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from contract.artifact import load_artifact
from load_tests.server import ServerProcess
from load_tests.workload import Workload


def edge_server(artifact: Path, workdir: Path, name: str, env: dict[str, str], workers: int = 1,
                plain: bool = False) -> ServerProcess:  # fmt: skip
    """A server of ``artifact`` started as deployed (``ctr serve``: the edge limits and shutdown bound apply),
    its output in ``workdir/<name>.log``; ``env``: CTR_* settings of the scenario. ``plain``: started as
    ``uvicorn --http httptools`` instead, without app.http.protocol (for comparison)."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = {"CTR_MODEL_DIR": str(artifact), "CTR_METRICS_DIR": str(workdir / f"metrics-{name}")}
    return ServerProcess({**base, **env}, workers=workers, cli=not plain, log_file=workdir / f"{name}.log")


def score_body(artifact: Path, rows: int = 1, pad_to: int | None = None, seed: int = 0) -> bytes:
    """A valid ``/v1/score`` body of ``rows`` records; ``pad_to``: grown to that many bytes by long
    unseen values (scored as OOV), the worst a maximum-size body can be for the parser."""
    workload = Workload(load_artifact(artifact, verify=False).encoder, seed=seed)
    records = [Workload.flat_records(workload.rank_body(1))[0] for _ in range(rows)]
    body = orjson.dumps({"records": records})
    if pad_to is None or len(body) >= pad_to:
        return body
    key = next(k for k, v in records[0].items() if isinstance(v, str))  # a categorical field sent as a string
    grow = (pad_to - len(body)) // rows
    for r in records:
        r[key] += "x" * grow  # unknown request keys are refused; an unseen value of a known one is not
    return orjson.dumps({"records": records})


def percentiles_ms(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"p50_ms": None, "p99_ms": None}
    p50, p99 = np.percentile(np.array(seconds) * 1000, [50, 99])
    return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2)}


@dataclass
class Outcome:
    """One normal request: when it started, how long it took, and how it ended."""

    started: float
    seconds: float
    result: str  # "200", another status, "refused", "closed_unanswered", "truncated", "error:<type>"
    request_id: str


@dataclass
class Traffic:
    """Normal clients: ``clients`` threads POSTing ``body`` to ``/v1/score``, each pausing ``pause`` s between
    requests, over a keep-alive connection, or a new connection per request (``new_connection``)."""

    port: int
    body: bytes
    clients: int = 2
    pause: float = 0.01
    new_connection: bool = False
    split_pause: float = 0.0  # > 0: send half the body, wait this long, send the rest (a request in flight)
    outcomes: list[Outcome] = field(default_factory=list)
    run: str = field(default_factory=lambda: os.urandom(4).hex())  # request ids of this run: {run}-{client}-{n}
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        for i in range(self.clients):
            thread = threading.Thread(target=self._client, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.outcomes

    def window(self, begin: float, end: float) -> dict[str, Any]:
        """Counts by result and latency percentiles of the requests started in [begin, end)."""
        chosen = [o for o in list(self.outcomes) if begin <= o.started < end]
        results: dict[str, int] = {}
        for o in chosen:
            results[o.result] = results.get(o.result, 0) + 1
        ok = [o.seconds for o in chosen if o.result == "200"]
        return {"requests": len(chosen), "results": results, **percentiles_ms(ok)}

    def _client(self, index: int) -> None:
        connection: http.client.HTTPConnection | None = None
        n = 0
        while not self._stop.is_set():
            rid = f"{self.run}-{index}-{n}"
            n += 1
            started = time.monotonic()
            if connection is None or self.new_connection:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                try:
                    connection.connect()
                except OSError as exc:  # refused: the server no longer listens; anything else is recorded too
                    result = "refused" if isinstance(exc, ConnectionRefusedError) else f"error:{type(exc).__name__}"
                    self.outcomes.append(Outcome(started, time.monotonic() - started, result, rid))
                    connection = None
                    time.sleep(0.05)
                    continue
            result = self._one(connection, rid)
            self.outcomes.append(Outcome(started, time.monotonic() - started, result, rid))
            if result != "200" or self.new_connection:
                connection.close()
                connection = None
            time.sleep(self.pause)
        if connection is not None:
            connection.close()

    def _one(self, connection: http.client.HTTPConnection, rid: str) -> str:
        headers = {"content-type": "application/json", "x-request-id": rid}
        if self.new_connection:
            headers["connection"] = "close"
        body: Any = self.body
        if self.split_pause > 0:
            headers["content-length"] = str(len(self.body))
            body = self._halves()
        try:
            connection.request("POST", "/v1/score", body, headers)
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            return "closed_unanswered"
        except (http.client.HTTPException, OSError) as exc:
            return f"error:{type(exc).__name__}"
        try:
            response.read()
        except (http.client.HTTPException, OSError):
            return "truncated"
        return str(response.status)

    def _halves(self) -> Any:
        half = len(self.body) // 2
        yield self.body[:half]
        time.sleep(self.split_pause)
        yield self.body[half:]


def read_answer(sock: socket.socket, timeout: float) -> dict[str, Any]:
    """What the server sent on ``sock`` until it closed it (or ``timeout``): status and whether it closed."""
    sock.settimeout(timeout)
    data, closed = b"", False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except TimeoutError:
        pass
    except OSError:
        closed = True
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    head, _, body = data.partition(b"\r\n\r\n")
    retry = [
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"retry-after:")
    ]
    error = orjson.loads(body).get("error") if status and body else None
    return {"status": status, "closed": closed, "error": error, "retry_after": retry[0] if retry else None}


def slow_request(port: int, head: bytes, body: bytes, interval: float, give_up: float, slow_head: bool = False
                 ) -> dict[str, Any]:  # fmt: skip
    """Send ``head`` (byte by byte too if ``slow_head``) then ``body`` one byte every ``interval`` s until the
    server answers or closes, or ``give_up`` s pass; what the client received, and when."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        stream = (head if slow_head else b"") + body
        if not slow_head:
            sock.sendall(head)
        sent = 0
        while time.monotonic() - started < give_up and sent < len(stream):
            try:
                sock.sendall(stream[sent : sent + 1])
            except OSError:
                break  # closed by the server: read what it said
            sent += 1
            sock.settimeout(interval)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        answer = read_answer(sock, max(1.0, give_up - (time.monotonic() - started)))
    return {**answer, "seconds": round(time.monotonic() - started, 2), "bytes_sent": sent}


def endless_header(port: int, megabytes: int, wait: float = 3.0, rss: Callable[[], int] | None = None
                   ) -> dict[str, Any]:  # fmt: skip
    """One header value sent at full speed, ``megabytes`` MiB of it: what the server answers, and when;
    ``rss``: how the server's RSS grew meanwhile (read once the sending ends, the connection still open)."""
    before, started, sent = rss() if rss else 0, time.monotonic(), 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nhost: x\r\nx-endless: ")
        with contextlib.suppress(OSError):  # the server answered and closed: stop sending
            for _ in range(megabytes):
                sock.sendall(b"a" * (1 << 20))
                sent += 1
        time.sleep(0.5)  # the server reads what is in flight
        growth = round((rss() - before) / (1 << 20), 1) if rss else None
        answer = read_answer(sock, wait)
    return {**answer, "mb_sent": sent, "seconds": round(time.monotonic() - started, 2), "rss_growth_mb": growth}


def slow_reader(port: int, body: bytes, wait: float) -> dict[str, Any]:
    """Post ``body`` (a large answer), read nothing for ``wait`` s, then read what is left: the server should
    have given up on us (fewer bytes than the answer, connection reset or closed)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request_head(len(body)) + body)
        time.sleep(wait)
        received, ended = 0, "timeout"
        sock.settimeout(3)
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            ended = "closed"
        except TimeoutError:
            pass
        except OSError:
            ended = "reset"
    return {"bytes_received": received, "ended": ended}


def open_idle(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that never send a byte."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]


def closed_by_server(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has closed (a read returns EOF or fails at once)."""
    closed = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            closed += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashed or timed out does (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def request_head(content_length: int | None, path: str = "/v1/score") -> bytes:
    length = b"" if content_length is None else b"content-length: %d\r\n" % content_length
    return b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + length + b"\r\n"
