"""A server killed mid-traffic loses at most what its log had queued, and every file left on disk parses."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time

from app.feedback.segments import recover_orphans
from load_tests.server import ServerProcess

QUEUE_ROWS = 5000


def test_sigkill_mid_traffic(artifact_path, sample_records, tmp_path):
    logs = tmp_path / "logs"
    env = {"CTR_MODEL_DIR": str(artifact_path), "CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(logs),
           "CTR_IMPRESSION_ROTATE_SECONDS": "0.5", "CTR_IMPRESSION_QUEUE_ROWS": str(QUEUE_ROWS)}  # fmt: skip
    body = json.dumps({"records": sample_records[:8]}).encode()
    answered, stop = [0], threading.Event()
    server = ServerProcess(env).start()

    def traffic() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        while not stop.is_set():
            try:
                connection.request("POST", "/v1/score", body=body, headers={"content-type": "application/json"})
                if connection.getresponse().read() and not stop.is_set():
                    answered[0] += 8
            except (OSError, http.client.HTTPException):
                return

    thread = threading.Thread(target=traffic)
    thread.start()
    deadline = time.monotonic() + 60  # enough traffic to matter, however busy the machine is
    while answered[0] <= 1000 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # and a log segment rotated meanwhile (CTR_IMPRESSION_ROTATE_SECONDS=0.5)
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    stop.set()
    thread.join()
    server.process.wait()
    recover_orphans(logs)  # what the next server on this host does at start-up
    lines = 0
    for path in logs.rglob("*.jsonl"):
        assert not path.name.startswith(".")
        for line in path.read_text().splitlines():
            record = json.loads(line)  # every line of every file parses
            assert set(record) >= {"request_id", "row", "ts", "model_version", "probability", "fields"}
            lines += 1
    assert answered[0] > 1000
    assert answered[0] - QUEUE_ROWS <= lines <= answered[0] + 8  # a row may be logged for an answer never read
