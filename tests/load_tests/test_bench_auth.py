"""The serving benchmark's auth_on_single scenario: registered, its server configured with a keys file, and its
key carried by every driver (wrk's script, the asyncio load generator) without appearing on a command line."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest

from app.security import keys as k
from load_tests import bench
from load_tests.loadgen import closed_loop
from load_tests.server import ServerProcess
from load_tests.wrk import run_wrk, write_bodies


def settings(artifact: Path) -> bench.Settings:
    return bench.Settings(artifact=artifact, redis_url="redis://127.0.0.1:6379/0", wrk_seconds=1, sweep_seconds=1,
                          fractions=(0.5,), connections=4, microbatch_concurrencies=(1,), ort_seconds=0, seed=0,
                          exponent=1.1)  # fmt: skip


@pytest.fixture
def plan():
    """bench.scenarios, with the scratch directory each call makes (keys file, shadow copy) removed afterwards."""
    scratches: list[Path] = []

    def make(chosen: bench.Settings) -> dict[str, bench.Scenario]:
        out = {sc.name: sc for sc in bench.scenarios(chosen, "unused")}
        scratches.extend(
            Path(sc.env["CTR_API_KEYS_FILE"]).parent for sc in out.values() if "CTR_API_KEYS_FILE" in sc.env
        )
        return out

    yield make
    for scratch in scratches:
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_scenario_is_ours_single_plus_a_keys_file(artifact_path, plan):
    scenarios = plan(settings(artifact_path.parent))
    auth, ours = scenarios["auth_on_single"], scenarios["ours_single"]
    assert (auth.server, auth.batch, auth.form, auth.workers) == (ours.server, ours.batch, ours.form, ours.workers)
    keys_file = Path(auth.env.pop("CTR_API_KEYS_FILE"))
    assert auth.env.pop("CTR_AUTH_PUBLIC_PATHS") == "/healthz,/readyz,/metrics"  # the benchmark reads /metrics
    assert auth.env == ours.env and not ours.headers
    stored = k.load_keys(keys_file)
    assert len(stored) == bench.AUTH_KEYS
    scheme, key = auth.headers["Authorization"].split(" ")
    assert scheme == "Bearer" and stored.match(key.encode()).scopes == {"score"}
    assert key not in auth.description
    chosen = settings(artifact_path.parent)
    chosen.only = ("auth_on_single",)  # `--only auth_on_single` runs it alone
    assert list(plan(chosen)) == ["auth_on_single"]


def test_every_driver_sends_the_key(artifact_path, sample_records, tmp_path, plan):
    chosen = settings(artifact_path.parent)
    chosen.only = ("auth_on_single",)
    scenario = plan(chosen)["auth_on_single"]
    bodies = [orjson.dumps({"records": [r]}) for r in sample_records[:10]]
    with ServerProcess(scenario.env) as server:
        with_key = asyncio.run(closed_loop("127.0.0.1", server.port, "/v1/score", bodies, concurrency=2,
                                           headers=scenario.headers))  # fmt: skip
        without = asyncio.run(closed_loop("127.0.0.1", server.port, "/v1/score", bodies, concurrency=2))
        assert with_key.statuses == {"200": 10} and without.statuses == {"401": 10}
        status, answer = bench.post_json(f"{server.url}/v1/score", bodies[0], scenario.headers)
        assert status == 200 and len(answer["probabilities"]) == 1
        assert server.metrics()['ctr_auth_rejections_total{reason="missing"}'] == 10  # as measure() reads it
        if shutil.which("wrk") is None and not Path("/usr/bin/wrk").exists():
            pytest.skip("wrk is not installed (load_tests/setup.sh)")
        path = write_bodies(bodies, tmp_path / "bodies.jsonl")
        result = run_wrk(f"{server.url}/v1/score", path, connections=2, seconds=1, headers=scenario.headers)
        assert result.requests > 0 and result.non_2xx == 0
        assert not any(scenario.headers["Authorization"].split()[1] in part for part in result.command)
        refused = run_wrk(f"{server.url}/v1/score", path, connections=2, seconds=1)
        assert refused.requests > 0 and refused.non_2xx == refused.requests  # the header did come from WRK_HEADERS
