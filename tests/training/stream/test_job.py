"""The streamed job end to end: one process in-process, then two processes under torchrun (gloo, CPU),
compared on AUC and on the artifact they export; the artifact is served over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.stores.publish import manifest_sha
from contract.artifact import load_artifact
from tests.app.redis_helpers import SHARED_URL
from tests.training.stream.conftest import ROOT, job_file
from training.stream.config import load_stream_config
from training.stream.distributed import Cluster
from training.stream.job import run_job

AUC_MARGIN = 0.01  # |AUC(2 processes) - AUC(1 process)|: different shard orders and half-batches per rank


@pytest.fixture(scope="module")
def single(small_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    return run_job(load_stream_config(job_file(tmp, small_data)), Cluster(), progress=False)


def test_one_process_learns_towards_the_planted_ceiling(single, small_data):
    meta = json.loads((small_data / "_synthetic.json").read_text())
    ceiling = meta["ceiling"]["2024-01-04"]["auc"]  # the test date's planted AUC
    assert single["split"]["test"]["dates"] == ["2024-01-04", "2024-01-04"]
    assert 0.65 < single["test"]["auc"] < ceiling  # learns, and (honestly) cannot beat the truth
    assert single["training_rows"] == 60_000 and single["history"][0]["rows"] == 60_000
    assert single["test"]["rows"] == 30_000 and single["validation"]["rows"] == 30_000
    assert single["peak_rss_mb"]["max"] > 0 and single["samples_per_s"] > 0


@pytest.mark.redis
def test_two_processes_under_torchrun_match_one_process(single, small_data, tmp_path, redis_model):
    summary_path = tmp_path / "summary.json"
    job = job_file(tmp_path, small_data, publish=redis_model)
    command = [sys.executable, "-m", "training.stream", "train", "--config", str(job),
               "--nproc", "2", "--quiet", "--summary", str(summary_path)]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    two = json.loads(summary_path.read_text())
    assert two["distributed"] == {"world_size": 2, "backend": "gloo", "device": "cpu"}
    assert abs(two["test"]["auc"] - single["test"]["auc"]) < AUC_MARGIN, (two["test"], single["test"])
    # every training row was trained on once per epoch, half by each rank, in the same number of steps
    assert two["history"][0]["rows"] == 60_000 and two["history"][0]["ranks_cut_short"] == 0
    assert len(two["peak_rss_mb"]["per_rank"]) == 2
    # the same artifact format, and the same vocabulary: per-rank counts merged exactly
    a, b = load_artifact(single["artifact"]), load_artifact(two["artifact"])
    assert a.encoder.to_layout() == b.encoder.to_layout() and a.encoder.vocabularies() == b.encoder.vocabularies()
    assert set(a.manifest) == set(b.manifest) and sorted(p.name for p in a.path.iterdir()) == sorted(
        p.name for p in b.path.iterdir()
    )
    assert b.manifest["stream"]["world_size"] == 2 and b.manifest["export"]["parity_max_abs_diff"] <= 1e-5
    assert time.monotonic() - started < 120
    # rank 0 alone published the version it exported, and activated it
    client = redis.Redis.from_url(SHARED_URL)
    try:
        assert [v.decode() for v in client.zrange(f"ctr:{redis_model}:versions", 0, -1)] == [b.version]
        assert client.get(f"ctr:{redis_model}:active").decode() == b.version
        published = json.loads(client.get(f"ctr:{{{redis_model}:{b.version}}}:manifest"))
    finally:
        client.close()
    assert published["sha256"]["artifact_manifest"] == manifest_sha(b.manifest)
    assert two["published"]["version"] == b.version and published["features"] == two["published"]["features"]


def test_the_exported_model_serves_its_sample_request(single):
    artifact = load_artifact(single["artifact"])
    body = json.loads((artifact.path / "sample_request.json").read_text())
    assert len(body["records"]) == 5 and set(body["records"][0]) == set(artifact.encoder.sources)
    with TestClient(create_app(Settings(model_dir=artifact.path))) as client:
        response = client.post("/v1/score", json=body)
    assert response.status_code == 200, response.text
    probabilities = np.array(response.json()["probabilities"])
    assert probabilities.shape == (5,) and ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.slow
def test_two_nodes_meet_through_a_c10d_rendezvous(small_data, tmp_path):
    """The multi-node launch of docs/scaling.md: two torchrun agents (one per "node", here both on
    loopback) meet at a c10d rendezvous endpoint and train one job."""
    from tests.redis_servers import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    job = job_file(tmp_path, small_data)
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
               "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", "--rdzv-id=docs-example",
               "-m", "training.stream", "train", "--config", str(job), "--quiet",
               "--summary", str(summary)]  # fmt: skip
    agents = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]  # fmt: skip
    for agent in agents:
        _, err = agent.communicate(timeout=300)
        assert agent.returncode == 0, err[-3000:]
    result = json.loads(summary.read_text())
    assert result["distributed"]["world_size"] == 2 and result["history"][0]["rows"] == 60_000
