"""Hot swaps under continuous traffic, with real 2-worker servers on both stores (issue 17's check).

Clients score a fixed set of records without pause while versions are activated and rolled back
several times. Every answer must be a 200 scored by exactly one version (its probabilities equal
that version's, computed offline), and once an activation is older than the switch bound no answer
may come from another version.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from contract.artifact import load_artifact, set_active
from contract.fm import fm_logit, sigmoid
from load_tests.server import ServerProcess
from tests.app.redis_helpers import SHARED_URL, another_version, delete_model, publish_to, unique_model

POLL_SECONDS = 0.2
DRAIN_SECONDS = 0.5
SWITCH_BOUND = 3.0  # poll + load + warm-up on a loaded 2-core machine, with margin
CLIENTS = 4


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: str | None
    probabilities: list[float]


def expected_probabilities(version_dir, records) -> np.ndarray:
    artifact = load_artifact(version_dir)
    batch = artifact.encoder.encode_records(records)
    return sigmoid(fm_logit(artifact.table[batch.ids], batch.values, artifact.bias))


def traffic(port: int, body: bytes, stop: threading.Event, answers: list[Answer]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        sent = time.monotonic()
        try:
            connection.request("POST", "/v1/score", body=body, headers={"content-type": "application/json"})
            response = connection.getresponse()
            data = json.loads(response.read())
            answers.append(Answer(sent, time.monotonic(), response.status, data.get("model_version"),
                                  data.get("probabilities", [])))  # fmt: skip
        except (OSError, http.client.HTTPException, ValueError) as exc:
            answers.append(Answer(sent, time.monotonic(), 0, repr(exc), []))
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.close()


def run_swaps(server: ServerProcess, records, expected: dict[str, np.ndarray], activate, sequence: list[str]) -> None:
    body = json.dumps({"records": records}).encode()
    stop, answers = threading.Event(), []
    threads = [threading.Thread(target=traffic, args=(server.port, body, stop, answers)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    switches = []
    try:
        time.sleep(0.5)
        for version in sequence:
            switches.append((time.monotonic(), version))
            activate(version)
            time.sleep(SWITCH_BOUND + 0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert len(answers) > 200, "too little traffic to judge"
    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} failed requests, e.g. {failed[0]}"
    for a in answers:  # exactly one version: the probabilities are that version's
        np.testing.assert_allclose(a.probabilities, expected[a.version], atol=1e-6, err_msg=a.version)
    for (at, version), (until, _) in zip(switches, [*switches[1:], (float("inf"), None)], strict=True):
        settled = [a for a in answers if at + SWITCH_BOUND <= a.sent and a.received < until]
        stale = [a.version for a in settled if a.version != version]
        assert settled and not stale, f"after activating {version}: {len(stale)} answers from {set(stale)}"
        switched = [a.received - at for a in answers if at <= a.sent and a.received < until and a.version == version]
        assert switched and min(switched) < SWITCH_BOUND


@pytest.fixture
def versions(artifact_path, tmp_path):
    """Three versions of the tiny model in a private model directory (scaled tables: other scores)."""
    root = tmp_path / "models"
    shutil.copytree(artifact_path.parent, root / artifact_path.parent.name)
    model_dir = root / artifact_path.parent.name
    others = [another_version(artifact_path, root, scale) for scale in (1.3, 0.7)]
    return model_dir, [artifact_path.name, *(v.name for v in others)]


def test_in_process_store_two_workers(versions, sample_records):
    model_dir, names = versions
    records = sample_records[:8]
    expected = {name: expected_probabilities(model_dir / name, records) for name in names}
    env = {"CTR_MODEL_DIR": str(model_dir), "CTR_MODEL_POLL_SECONDS": str(POLL_SECONDS),
           "CTR_DRAIN_SECONDS": str(DRAIN_SECONDS)}  # fmt: skip
    with ServerProcess(env, workers=2) as server:
        run_swaps(server, records, expected, lambda v: set_active(model_dir, v, by="test"),
                  [names[1], names[2], names[0], names[1], names[0]])  # fmt: skip


@pytest.mark.redis
def test_redis_store_two_workers(versions, sample_records):
    model_dir, names = versions
    records = sample_records[:8]
    expected = {name: expected_probabilities(model_dir / name, records) for name in names}
    model = unique_model()
    try:
        for name in names:
            publish_to(SHARED_URL, model_dir / name, model, activate=name == names[0], keep=5)
        env = {"CTR_STORE": "redis", "CTR_REDIS_URL": SHARED_URL, "CTR_REDIS_MODEL": model,
               "CTR_REDIS_POLL_SECONDS": str(POLL_SECONDS), "CTR_DRAIN_SECONDS": str(DRAIN_SECONDS),
               "CTR_REDIS_TIMEOUT_MS": "500"}  # fmt: skip
        # (a generous lookup deadline: on a loaded test machine the swap is under test, not the deadline)

        def activate(version: str) -> None:  # what `ctr publish` of an already published version does
            publish_to(SHARED_URL, model_dir / version, model, keep=5)

        with ServerProcess(env, workers=2) as server:
            run_swaps(server, records, expected, activate, [names[1], names[2], names[0], names[1], names[0]])
    finally:
        delete_model(SHARED_URL, model)
