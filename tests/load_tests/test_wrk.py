"""wrk driver: the output parser, and the Lua script against a tiny local HTTP server."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from load_tests.wrk import WrkError, parse_output, run_wrk, write_bodies

TEXT_OUTPUT = """Running 5s test @ http://127.0.0.1:8000/v1/score
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.01ms    1.20ms  30.11ms   90.12%
    Req/Sec     5.33k   301.22     5.80k    70.00%
  26512 requests in 5.01s, 4.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 17
Requests/sec:   5291.82
Transfer/sec:    842.10KB
"""
JSON_LINE = (
    'WRK_JSON {"requests": 1000, "duration_us": 2000000, "bytes": 5, "errors": {"connect": 1, "read": 0, '
    '"write": 0, "status": 4, "timeout": 2}, "latency_us": {"p50": 1500, "p90": 2000, "p99": 3000, '
    '"p99.9": 4000, "max": 9000, "mean": 1600.5}}\n'
)


def test_parse_text_output():
    result = parse_output(TEXT_OUTPUT)
    assert result.requests == 26512
    assert result.seconds == pytest.approx(5.01)
    assert result.requests_per_second == pytest.approx(5291.82)
    assert result.non_2xx == 17
    assert result.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 3}
    assert result.errors == 22


def test_the_script_line_wins_over_the_text():
    result = parse_output(TEXT_OUTPUT + JSON_LINE)
    assert result.requests == 1000 and result.seconds == 2.0 and result.requests_per_second == 500.0
    assert result.non_2xx == 4 and result.errors == 7
    assert result.latency_ms["p99"] == 3.0 and result.latency_ms["max"] == 9.0


def test_unparseable_output_is_an_error():
    with pytest.raises(WrkError):
        parse_output("wrk: something went wrong\n")


def test_a_body_with_a_newline_is_refused(tmp_path):
    with pytest.raises(ValueError, match="newline"):
        write_bodies([b'{"a":\n1}'], tmp_path / "b.jsonl")


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: ClassVar[Counter[tuple]] = Counter()
    lock = threading.Lock()

    def do_POST(self):  # http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen[(self.command, self.path, self.headers["Content-Type"], body)] += 1
        status = 422 if b"bad" in body else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (load_tests/setup.sh)")
def test_wrk_posts_every_body_in_rotation_and_counts_non_2xx(tmp_path):
    bodies = [b'{"records":[{"user":%d}]}' % i for i in range(5)] + [b'{"bad":true}']
    path = write_bodies(bodies, tmp_path / "bodies.jsonl")
    Recorder.seen = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run_wrk(f"http://127.0.0.1:{server.server_port}/v1/score", path, connections=2, seconds=1)
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 30
    assert {key[3] for key in Recorder.seen} == set(bodies)  # every body, nothing else
    assert {key[:3] for key in Recorder.seen} == {("POST", "/v1/score", "application/json")}
    counts = [Recorder.seen[key] for key in Recorder.seen]
    assert max(counts) - min(counts) <= 2 * 2  # rotation: each connection cycles through the bodies in turn
    bad = sum(n for key, n in Recorder.seen.items() if b"bad" in key[3])
    assert result.non_2xx == pytest.approx(bad, abs=2)  # requests cut off at the end are not counted by wrk
    assert result.non_2xx > 0
