"""Shadow scoring: a second version scores after the answer is sent; its scores reach the log and `compare`."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.http import handlers
from app.main import create_app
from app.settings import Settings
from cli import main
from tests.app.conftest import post
from tests.app.redis_helpers import another_version, metric, wait_for


@pytest.fixture
def model_dir(artifact_path, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(artifact_path.parent, root / artifact_path.parent.name)
    return root / artifact_path.parent.name


def test_shadow_scores_are_logged_joined_and_compared(model_dir, artifact_path, sample_records, tmp_path, capsys):
    shadow = another_version(artifact_path, model_dir.parent, 0.5)
    logs = tmp_path / "logs"
    settings = Settings(model_dir=model_dir, model_poll_seconds=0.05, impression_log="file", impression_dir=logs,
                        shadow_fraction=1.0)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        assert main(["models", "shadow", shadow.name, "--model-dir", str(model_dir)]) == 0
        wait_for(lambda: client.app.state.ctr.shadow is not None, timeout=5)
        answers = [post(client, {"records": sample_records[:10]}).json() for _ in range(6)]
        assert {a["model_version"] for a in answers} == {artifact_path.name}  # clients get the active version
        assert metric(client, "ctr_shadow_rows_total", f'version="{shadow.name}"') == 60
        for a in answers:
            events = [{"request_id": a["request_id"], "row": i, "clicked": i % 3 == 0} for i in range(10)]
            post(client, {"events": events}, path="/v1/feedback")
        assert main(["models", "shadow", "--off", "--model-dir", str(model_dir)]) == 0
        wait_for(lambda: client.app.state.ctr.shadow is None, timeout=5)
    lines = [json.loads(x) for p in logs.rglob("impressions-*.jsonl") for x in p.read_text().splitlines()]
    assert len(lines) == 60 and {line["shadow_version"] for line in lines} == {shadow.name}
    assert all(line["shadow_probability"] != line["probability"] for line in lines)  # another table, other scores
    day = time.strftime("%Y-%m-%d", time.gmtime(lines[0]["ts"]))
    capsys.readouterr()
    assert main(["join", "--date", day, "--log-dir", str(logs), "--out", str(tmp_path / "joined")]) == 0
    capsys.readouterr()
    assert main(["models", "compare", "--joined", str(tmp_path / "joined"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 60 and result["versions"] == [{"active": artifact_path.name, "shadow": shadow.name}]
    assert 0 <= result["active"]["auc"] <= 1 and result["shift"]["mean_abs"] > 0


def test_shadow_work_is_not_on_the_latency_path(model_dir, artifact_path, sample_records, monkeypatch, unused_port):
    """A slow shadow (0.5 s) must not delay answers: it runs after the response is on the wire."""
    shadow = another_version(artifact_path, model_dir.parent, 0.5)
    real = handlers._score_shadow
    done = []

    async def slow_shadow(*args):
        await asyncio.sleep(0.5)
        await real(*args)
        done.append(time.monotonic())

    monkeypatch.setattr(handlers, "_score_shadow", slow_shadow)
    main(["models", "shadow", shadow.name, "--model-dir", str(model_dir)])
    settings = Settings(model_dir=model_dir, shadow_fraction=1.0)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=unused_port, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        url = f"http://127.0.0.1:{unused_port}"
        wait_for(lambda: _ready(url), timeout=20)
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/score", json={"records": sample_records[:4]}, timeout=5)
        latency = time.monotonic() - started
        assert response.status_code == 200 and latency < 0.4
        wait_for(lambda: done, timeout=5)
        assert done[0] - started >= 0.5
    finally:
        server.should_exit = True
        thread.join(10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def unused_port():
    from load_tests.server import free_port

    return free_port()
