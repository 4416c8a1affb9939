"""Slow and abusive clients, and SIGTERM, against a real server (``ctr serve``): what they get, what others see.

Each ``run_<scenario>(artifact, workdir)`` starts its own server through ``ctr serve`` (the launcher
that passes the edge limits to uvicorn), runs normal clients before and during the abuse, and returns
JSON-able figures: the scenario, requests sent, results by status, the normal clients' p50/p99 before
and during, the server's peak RSS, what the abusive clients received, and ``checks: {name: bool}``.
``run_all`` runs them all; ``python -m load_tests.abuse ARTIFACT --out reports/abuse.json`` writes them.
The limits are in docs/security.md ("Abuse, limits and shutdown"); the tests are
tests/load_tests/test_abuse.py.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from app.http.protocol import SWEEP_SECONDS
from load_tests.abuse_clients import (
    Traffic,
    closed_by_server,
    edge_server,
    endless_header,
    open_idle,
    read_answer,
    request_head,
    reset,
    score_body,
    slow_reader,
    slow_request,
)
from load_tests.abuse_shutdown import run_sigterm
from load_tests.process_watch import RssPeak, pid_alive, rss_bytes, server_log_problems
from load_tests.server import ServerProcess

MB = 1 << 20


def _result(name: str, traffic: Traffic, marks: tuple[float, float, float], server: ServerProcess,
            peak: int, abusive: Any, checks: dict[str, bool]) -> dict[str, Any]:  # fmt: skip
    before, during = traffic.window(marks[0], marks[1]), traffic.window(marks[1], marks[2])
    problems = server_log_problems(server.log_file) if server.log_file else []
    checks = {**checks, "normal_clients_all_200": set(during["results"]) == {"200"} and during["requests"] > 0,
              "no_error_or_traceback_in_server_log": not problems}  # fmt: skip
    return {"scenario": name, "requests_sent": len(traffic.outcomes), "errors": during["results"],
            "normal_before": before, "normal_during": during, "peak_rss_mb": round(peak / MB, 1),
            "abusive_received": abusive, "server_log_problems": problems[:5], "checks": checks}  # fmt: skip


def _metric(server: ServerProcess, series: str) -> float:
    return server.metrics().get(series, 0.0)


def run_slow_body(artifact: Path, workdir: Path, slow_clients: int = 3, timeout: float = 3.0,
                  baseline: float = 2.0, plain: bool = False) -> dict[str, Any]:  # fmt: skip
    """Clients sending their body (and one its headers) one byte a second: 408 after CTR_BODY_TIMEOUT_SECONDS;
    then one sending an endless header at full speed: 431 at CTR_MAX_HEADER_BYTES. Meanwhile a client that
    asks for a large answer and reads none of it: aborted once the answer has waited that long.

    ``plain``: the same against plain ``uvicorn --http httptools`` (no app.http.protocol), for comparison.
    """
    env = {"CTR_BODY_TIMEOUT_SECONDS": str(timeout)}
    with edge_server(artifact, workdir, "slow_body" + "_plain" * plain, env, plain=plain) as server:
        traffic = Traffic(server.port, score_body(artifact)).start()
        assert server.process is not None
        with RssPeak(server.process.pid) as rss:
            t0 = time.monotonic()
            time.sleep(baseline)
            t1 = time.monotonic()
            slow: list[dict[str, Any]] = []

            def one(head: bytes, body: bytes, slow_head: bool) -> None:
                answer = slow_request(server.port, head, body, 1.0, timeout + 8, slow_head=slow_head)
                slow.append({"slow_headers": slow_head, **answer})

            jobs = [(request_head(200), b"{" * 200, False)] * slow_clients + [(request_head(200), b"", True)]
            threads = [threading.Thread(target=one, args=job) for job in jobs]
            reader: dict[str, Any] = {}
            threads.append(threading.Thread(target=lambda: reader.update(slow_reader(
                server.port, _explained(artifact), timeout + SWEEP_SECONDS + 2))))  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            pid = server.process.pid
            endless = endless_header(server.port, 16, rss=lambda: rss_bytes(pid))
            t2 = time.monotonic()
        traffic.stop()
        timeouts = _metric(server, 'ctr_connection_timeouts_total{stage="request"}')
        aborted = _metric(server, 'ctr_connection_timeouts_total{stage="send"}')
    late = timeout + SWEEP_SECONDS + 1.5  # the sweep runs once a second; a loaded machine adds a little
    checks = {
        "every_slow_client_got_408_request_timeout": all(
            s["status"] == 408 and s["error"] == "request_timeout" for s in slow
        ),
        "every_slow_connection_closed": all(s["closed"] for s in slow),
        "answered_within_the_bound": all(timeout - 0.5 <= s["seconds"] <= late for s in slow),
        "timeouts_counted": timeouts == len(jobs),
        "endless_header_got_431": endless["status"] == 431 and endless["error"] == "headers_too_large",
        "slow_reader_aborted": aborted == 1 and reader["ended"] != "timeout",
    }
    abusive = {"clients": slow, "bound_s": late, "endless_header": endless, "slow_reader": reader}
    return _result("slow_body", traffic, (t0, t1, t2), server, rss.peak, abusive, checks)


def run_idle_connections(artifact: Path, workdir: Path, connections: int = 500, keep_alive: int = 2,
                         baseline: float = 2.0) -> dict[str, Any]:  # fmt: skip
    """Many connections that never send a byte: others are served; each is closed after CTR_KEEP_ALIVE_SECONDS."""
    env = {"CTR_KEEP_ALIVE_SECONDS": str(keep_alive)}
    with edge_server(artifact, workdir, "idle_connections", env) as server:
        traffic = Traffic(server.port, score_body(artifact)).start()
        assert server.process is not None
        with RssPeak(server.process.pid) as rss:
            t0 = time.monotonic()
            time.sleep(baseline)
            t1 = time.monotonic()
            idle = open_idle(server.port, connections)
            opened = time.monotonic() - t1
            time.sleep(keep_alive + SWEEP_SECONDS + 1.5)
            closed = closed_by_server(idle)
            t2 = time.monotonic()
        for sock in idle:
            sock.close()
        traffic.stop()
        counted = _metric(server, 'ctr_connection_timeouts_total{stage="idle"}')
    abusive = {"connections": connections, "opened_in_s": round(opened, 2), "closed_by_server": closed}
    checks = {"every_idle_connection_closed": closed == connections, "idle_closes_counted": counted >= connections}
    return _result("idle_connections", traffic, (t0, t1, t2), server, rss.peak, abusive, checks)


def _one_request(port: int, body: bytes) -> dict[str, Any]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_head(len(body)) + body)
        return read_answer(sock, 10)


def run_connection_limit(artifact: Path, workdir: Path, limit: int = 50, keep_alive: int = 2) -> dict[str, Any]:
    """Silent connections up to CTR_LIMIT_CONCURRENCY: a new request gets 503 busy until they are closed as idle."""
    env = {"CTR_LIMIT_CONCURRENCY": str(limit), "CTR_KEEP_ALIVE_SECONDS": str(keep_alive)}
    body = score_body(artifact)
    with edge_server(artifact, workdir, "connection_limit", env) as server:
        assert server.process is not None
        with RssPeak(server.process.pid) as rss:
            traffic = Traffic(server.port, body, clients=1)  # not started: its connection would hold a slot
            t0 = time.monotonic()
            idle = open_idle(server.port, limit)
            time.sleep(0.3)
            refused = _one_request(server.port, body)
            t1 = time.monotonic()
            time.sleep(keep_alive + SWEEP_SECONDS + 1.5)
            after = _one_request(server.port, body)
            t2 = time.monotonic()
        for sock in idle:
            sock.close()
    abusive = {"idle_connections": limit, "new_request_while_full": refused, "new_request_after_idle_bound": after}
    checks = {"full_worker_answers_503_busy": refused["status"] == 503 and refused["error"] == "busy",
              "served_again_once_idle_connections_closed": after["status"] == 200}  # fmt: skip
    result = _result("connection_limit", traffic, (t0, t1, t2), server, rss.peak, abusive, checks)
    result["checks"].pop("normal_clients_all_200")  # no normal traffic here: the worker was full on purpose
    result["requests_sent"] = 2
    return result


def _explained(artifact: Path) -> bytes:
    """A 4,096-record body asking for explanations: an answer of megabytes."""
    return orjson.dumps({**orjson.loads(score_body(artifact, rows=4096)), "explain": True})


def _leave(port: int, stage: str, big: bytes) -> None:
    """One client that leaves mid-``stage`` with a TCP reset."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if stage == "headers":
        sock.sendall(request_head(100)[:20])
    elif stage == "body":
        sock.sendall(request_head(1000) + b'{"records": [')
    else:  # response: a 4096-record answer with explanations is megabytes; read a little of it, then go
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request_head(len(big)) + big)
        sock.recv(100)
    time.sleep(0.05)
    reset(sock)


def run_disconnects(artifact: Path, workdir: Path, each: int = 10, baseline: float = 2.0) -> dict[str, Any]:
    """Clients that leave mid-headers, mid-body and mid-response: no 5xx, no traceback, counted by stage."""
    big = _explained(artifact)
    with edge_server(artifact, workdir, "disconnects", {}) as server:
        traffic = Traffic(server.port, score_body(artifact)).start()
        assert server.process is not None
        with RssPeak(server.process.pid) as rss:
            t0 = time.monotonic()
            time.sleep(baseline)
            t1 = time.monotonic()
            for _ in range(each):
                for stage in ("headers", "body", "response"):
                    _leave(server.port, stage, big)
            time.sleep(1.0)
            t2 = time.monotonic()
        traffic.stop()
        metrics = server.metrics()
        alive = pid_alive(server.process.pid)
    stages = ("headers", "body", "response")
    counted = {s: metrics.get(f'ctr_client_disconnects_total{{stage="{s}"}}', 0.0) for s in stages}
    fives = sum(v for k, v in metrics.items() if k.startswith("ctr_http_requests_total") and 'status="5' in k)
    checks = {"server_alive": alive, "no_5xx": fives == 0,
              "every_disconnect_counted": all(v == each for v in counted.values())}  # fmt: skip
    abusive = {"per_stage": each, "counted": counted, "response_bytes": len(big)}
    return _result("disconnects", traffic, (t0, t1, t2), server, rss.peak, abusive, checks)


def _post_raw(port: int, body: bytes, out: list[dict[str, Any]]) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # refused before the body was read: the answer is still there to read
            sock.sendall(request_head(len(body)) + body)
        out.append(read_answer(sock, 60))


def run_max_bodies(artifact: Path, workdir: Path, clients: int = 12, rounds: int = 3, budget: int | None = None,
                   max_body: int = 4 * MB, baseline: float = 2.0) -> dict[str, Any]:  # fmt: skip
    """``clients`` concurrent maximum-size bodies, ``rounds`` times: 200 or 503 busy, RSS bounded."""
    budget = budget or 4 * max_body
    env = {"CTR_MAX_BODY_BYTES": str(max_body), "CTR_BODY_BUDGET_BYTES": str(budget)}
    body = score_body(artifact, rows=4096, pad_to=max_body - 64)
    with edge_server(artifact, workdir, f"max_bodies_{budget // MB}mb", env) as server:
        traffic = Traffic(server.port, score_body(artifact), clients=1).start()
        assert server.process is not None
        time.sleep(baseline)
        idle_rss = rss_bytes(server.process.pid)
        answers: list[dict[str, Any]] = []
        with RssPeak(server.process.pid) as rss:
            t0, t1 = time.monotonic() - baseline, time.monotonic()
            for _ in range(rounds):
                threads = [
                    threading.Thread(target=_post_raw, args=(server.port, body, answers)) for _ in range(clients)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            t2 = time.monotonic()
        traffic.stop()
    statuses: dict[str, int] = {}
    for a in answers:
        statuses[str(a["status"])] = statuses.get(str(a["status"]), 0) + 1
    bound = idle_rss + 8 * budget  # a body in progress costs a few times its bytes: buffers, parsed JSON, arrays
    checks = {"all_answered_200_or_503": set(statuses) <= {"200", "503"} and len(answers) == clients * rounds,
              "rss_under_bound": rss.peak <= bound}  # fmt: skip
    abusive = {"body_bytes": len(body), "clients": clients, "rounds": rounds, "budget_bytes": budget,
               "statuses": statuses, "idle_rss_mb": round(idle_rss / MB, 1),
               "rss_bound_mb": round(bound / MB, 1)}  # fmt: skip
    return _result(f"max_bodies_{budget // MB}mb_budget", traffic, (t0, t1, t2), server, rss.peak, abusive, checks)


def plain_comparison(artifact: Path, workdir: Path) -> dict[str, Any]:
    """The slow-body scenario against plain uvicorn: what app.http.protocol adds. Its checks are expected to
    fail; they are kept as ``plain_checks`` and the result does not gate ``run_all``'s verdict."""
    result = run_slow_body(artifact, workdir, slow_clients=1, plain=True)
    result["scenario"], result["plain_checks"], result["checks"] = "slow_body_plain_uvicorn", result["checks"], {}
    return result


def run_all(artifact: Path, workdir: Path) -> list[dict[str, Any]]:
    """Every scenario, with its default (short) sizes; the max-bodies one also without a useful budget,
    and the slow body against plain uvicorn."""
    return [
        run_slow_body(artifact, workdir),
        plain_comparison(artifact, workdir),
        run_idle_connections(artifact, workdir),
        run_connection_limit(artifact, workdir),
        run_disconnects(artifact, workdir),
        run_max_bodies(artifact, workdir),
        run_max_bodies(artifact, workdir, budget=12 * 4 * MB),  # room for all 12 at once: the comparison
        run_sigterm(artifact, workdir),
        run_sigterm(artifact, workdir, workers=2),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("artifact", type=Path, help="a model version directory")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ctr-abuse"))
    parser.add_argument("--out", type=Path, default=Path("reports/abuse.json"))
    args = parser.parse_args(argv)
    results = run_all(args.artifact, args.workdir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    for r in results:
        print(r["scenario"], "ok" if all(r["checks"].values()) else f"FAILED {r['checks']}")
    return 0 if all(all(r["checks"].values()) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
