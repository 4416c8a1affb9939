"""Goals and ratios of the serving benchmark are computed from the measured numbers."""

from __future__ import annotations

import copy

import pytest

from load_tests.bench_report import compute_goals, extra_ratios, markdown, scenario_errors


def wrk(rps: float, batch: int = 1, errors: int = 0) -> dict:
    return {"requests_per_second": rps, "rows_per_second": rps * batch, "errors": errors, "connections": 32,
            "latency_ms": {"p50": 1.0, "p99": 2.0}}  # fmt: skip


def sweep(p99_at_half: float, errors: int = 0) -> list[dict]:
    return [
        {"fraction": f, "target_rate": 100 * f, "requests_per_second": 100 * f, "errors": errors if f == 0.5 else 0,
         "latency_ms": {"p50": 0.5, "p95": 0.8, "p99": p99_at_half if f == 0.5 else 9.9, "max": 12.0}}
        for f in (0.25, 0.5, 0.9)
    ]  # fmt: skip


def scenario(rps: float, batch: int = 1, workers: int = 1, p99: float = 1.0) -> dict:
    return {"wrk": wrk(rps, batch), "sweep": sweep(p99), "workers": workers, "batch": batch, "form": "records",
            "server": "ours", "description": "", "server_command": "uvicorn ..."}  # fmt: skip


@pytest.fixture
def results():
    return {
        "ours_single": scenario(4000, p99=1.5),
        "floor_single": scenario(4500),
        "redis_warm_single": scenario(3200),
        "ours_b256_columns": scenario(1500, batch=256),
        "ours_b256_records": scenario(500, batch=256),
        "naive_torch_single": scenario(1000),
    }


def by_key(goals):
    return {g["key"]: g for g in goals}


def test_goals_met(results):
    goals = by_key(compute_goals(results))
    assert goals["floor_ratio"]["value"] == pytest.approx(4000 / 4500) and goals["floor_ratio"]["met"] is True
    assert goals["p99_half_load_ms"]["value"] == 1.5 and goals["p99_half_load_ms"]["met"] is True
    assert goals["redis_warm_ratio"]["value"] == pytest.approx(0.8) and goals["redis_warm_ratio"]["met"] is True
    assert goals["batch256_rows_per_worker"]["value"] == 384_000 and goals["batch256_rows_per_worker"]["met"]
    assert goals["naive_torch_speedup"]["value"] == 4.0 and goals["naive_torch_speedup"]["met"] is True


def test_goals_not_met(results):
    results["floor_single"]["wrk"]["requests_per_second"] = 5000  # 0.8 < 0.85
    results["ours_single"]["sweep"] = sweep(2.5)  # p99 above 2 ms at half load (fraction 0.5 exactly)
    results["redis_warm_single"]["wrk"]["requests_per_second"] = 2900  # 0.725 < 0.75
    results["ours_b256_columns"]["wrk"]["rows_per_second"] = 299_999
    results["naive_torch_single"]["wrk"]["requests_per_second"] = 1400  # 2.86x < 3x
    goals = compute_goals(results)
    assert [g["met"] for g in goals] == [False] * 5
    assert all(g["verdict"] == "not met" for g in goals)


def test_per_worker_rows_divide_by_workers(results):
    results["ours_b256_columns"]["workers"] = 2
    assert by_key(compute_goals(results))["batch256_rows_per_worker"]["value"] == 192_000


def test_missing_scenarios_are_not_measured(results):
    del results["naive_torch_single"], results["ours_single"]["sweep"]
    goals = by_key(compute_goals(results))
    assert goals["naive_torch_speedup"]["met"] is None and goals["naive_torch_speedup"]["value"] is None
    assert goals["p99_half_load_ms"]["met"] is None


def test_errors_void_a_goal_whatever_its_number(results):
    results["floor_single"]["wrk"]["errors"] = 3  # e.g. non-2xx answers under wrk
    results["ours_single"]["sweep"] = sweep(1.0, errors=2)  # dropped at half load
    goals = by_key(compute_goals(results))
    assert goals["floor_ratio"]["met"] is False and "3 errors" in goals["floor_ratio"]["verdict"]
    assert goals["p99_half_load_ms"]["met"] is False and "2 errors" in goals["p99_half_load_ms"]["verdict"]
    assert goals["redis_warm_ratio"]["met"] is True  # neither concerns this goal


def test_drops_beyond_half_load_do_not_void_goals(results):
    results["ours_single"]["sweep"][-1]["errors"] = 50  # fraction 0.9: saturation is expected there
    goals = by_key(compute_goals(results))
    assert goals["p99_half_load_ms"]["met"] is True and goals["floor_ratio"]["met"] is True


def test_interleaved_rounds_win_over_the_single_run(results):
    rounds = [wrk(rps) for rps in (3000, 3600, 3300)]
    results["floor_single"]["interleaved"] = rounds  # median 3300 against ours' 4000
    goals = by_key(compute_goals(results))
    assert goals["floor_ratio"]["value"] == pytest.approx(4000 / 3300)
    rounds[0]["errors"] = 1
    assert by_key(compute_goals(results))["floor_ratio"]["met"] is False


def test_scenario_errors_add_every_run():
    r = {"wrk": wrk(1, errors=2), "concurrency_sweep": [wrk(1, errors=1)], "sweep": sweep(1.0, errors=4),
         "interleaved": [wrk(1, errors=8)]}  # fmt: skip
    assert scenario_errors(r) == 15
    assert scenario_errors(r, "throughput") == 11
    assert scenario_errors(r, "half_load") == 4


def test_markdown_renders_goals_and_rows(results):
    report = {
        "command": "python -m load_tests.bench", "created_at": "now", "json_name": "x.json",
        "model": {"name": "m", "version": "v"}, "pinning": "server CPU 0",
        "machine": {"cpus": 2, "python": "3.11", "platform": "linux", "load_average_before": [0.1, 0, 0],
                    "load_average_after": [0.2, 0, 0]},
        "method": {k: k for k in ("throughput", "latency", "requests", "microbatch")},
        "results": copy.deepcopy(results), "goals": compute_goals(results), "ratios": extra_ratios(results),
        "onnxruntime_alone": [{"batch": 1, "calls_per_second": 1e5, "rows_per_second": 1e5, "us_per_call": 10.0}],
    }  # fmt: skip
    text = markdown(report)
    assert "| ours / floor, single-record req/s | >= 0.85 x | 0.89 x | **met** |" in text
    assert "| ours_single | ours | 1 | records | 1 | 32 | 4,000 | 4,000 |" in text
    assert text.count("\n| ours_single | 0.5 |") == 1


def test_p99_goal_uses_the_median_of_interleaved_half_load_rounds(results):
    rounds = [{"fraction": 0.5, "errors": 0, "latency_ms": {"p99": p99}} for p99 in (1.2, 9.0, 1.8)]
    results["ours_single"]["interleaved_half_load"] = rounds  # the sweep's own 0.5 point says 1.5
    goal = by_key(compute_goals(results))["p99_half_load_ms"]
    assert goal["value"] == 1.8 and goal["met"] is True
    rounds[1]["errors"] = 5  # dropped requests in any round void the verdict
    goal = by_key(compute_goals(results))["p99_half_load_ms"]
    assert goal["met"] is False and "5 errors" in goal["verdict"]
