"""The running server logs in JSON lines off a terminal, at the configured level, with request context (16.7)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from load_tests.server import free_port
from tests.test_isolation import ROOT

CTR = Path(sys.executable).with_name("ctr")


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("server not ready")


def test_ctr_serve_logs_json_lines_with_request_context(tiny_trained, sample_records):
    port = free_port()
    env = {**os.environ, "CTR_LOG_LEVEL": "debug", "CTR_MODEL_DIR": str(tiny_trained[1])}
    process = subprocess.Popen([str(CTR), "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process)
        body = json.dumps({"records": sample_records[:2]}).encode()
        headers = {"content-type": "application/json", "x-request-id": "abc-123"}
        request = urllib.request.Request(f"{url}/v1/score", data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            version = json.loads(response.read())["model_version"]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    lines = [json.loads(line) for line in err.decode().splitlines() if line.strip()]  # every line is JSON
    messages = [line["msg"] for line in lines]
    assert any(m.startswith(f"serving tiny version {version} from ") for m in messages), messages
    assert any("Uvicorn running on" in m for m in messages)  # uvicorn's own lines, in the same format
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # ctr serve keeps the access log off
    assert not [line for line in lines if "color_message" in line]
    scored = [line for line in lines if line["msg"] == "scored 2 rows"]
    assert scored and scored[0]["request_id"] == "abc-123" and scored[0]["model_version"] == version
    assert scored[0]["level"] == "debug" and scored[0]["endpoint"] == "/v1/score"
