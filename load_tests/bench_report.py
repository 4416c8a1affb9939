"""The serving benchmark's verdicts and renderings: goals from measured numbers, markdown, a plot.

Everything here reads the JSON that ``load_tests/bench.py`` writes, so ``python -m load_tests.bench
--render reports/serving_bench.json`` redraws the markdown and PNG without measuring again. Goals
are computed from the measured numbers, never written down: a goal whose inputs are missing is
"not measured", and one whose runs saw errors is "not met" whatever its number says (throughput
goals: non-2xx and socket errors of the scenarios' wrk runs; the latency goal: non-2xx and dropped
requests of the half-load open-loop run).

A scenario's throughput is the median of its interleaved wrk rounds when the run made them (the
scenarios a ratio compares are measured in turn, round after round, so a change in the machine's
background load hits both sides), else its one wrk run.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HALF_LOAD = 0.5
CPU = "server_cpu_ms_per_request"


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    op: str  # ">=" or "<="
    target: float
    unit: str
    scenarios: tuple[str, ...]  # whose errors void the verdict
    value: Callable[[Mapping[str, dict[str, Any]]], float | None]
    uses: str = "throughput"  # or "half_load": which runs' errors void it


def throughput(results: Mapping[str, dict[str, Any]], name: str, key: str = "requests_per_second") -> float | None:
    """``key`` (requests_per_second, rows_per_second, server_cpu_ms_per_request) of a scenario's wrk runs:
    the median over interleaved rounds when there are any, else the one run."""
    result = results.get(name) or {}
    rounds = [r[key] for r in (result.get("interleaved") or []) if r.get(key) is not None]
    if rounds:
        return statistics.median(rounds)
    wrk = result.get("wrk")
    return None if not wrk else wrk.get(key)


def sweep_point(results: Mapping[str, dict[str, Any]], name: str, fraction: float) -> dict[str, Any] | None:
    for point in (results.get(name) or {}).get("sweep", []):
        if abs(point["fraction"] - fraction) < 1e-9:
            return point
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def half_load_points(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The open-loop runs at half load a latency verdict rests on: the interleaved rounds' when there
    are any, else the sweep's 0.5 point."""
    if not result:
        return []
    if result.get("interleaved_half_load"):
        return list(result["interleaved_half_load"])
    point = sweep_point({"r": result}, "r", HALF_LOAD)
    return [] if point is None else [point]


def p99_at_half_load(results: Mapping[str, dict[str, Any]], name: str) -> float | None:
    """Median over :func:`half_load_points` of their p99 (ms)."""
    p99s = [p["latency_ms"]["p99"] for p in half_load_points(results.get(name)) if "p99" in p.get("latency_ms", {})]
    return statistics.median(p99s) if p99s else None


def _p99_half(results: Mapping[str, dict[str, Any]]) -> float | None:
    return p99_at_half_load(results, "ours_single")


def _rows_per_worker(results: Mapping[str, dict[str, Any]]) -> float | None:
    rows = throughput(results, "ours_b256_columns", "rows_per_second")
    workers = (results.get("ours_b256_columns") or {}).get("workers", 1)
    return None if rows is None else rows / workers


GOALS = (
    Goal("floor_ratio", "ours / floor, single-record req/s", ">=", 0.85, "x", ("ours_single", "floor_single"),
         lambda r: ratio(throughput(r, "ours_single"), throughput(r, "floor_single"))),
    Goal("p99_half_load_ms", "p99 at half load (single record, in-process)", "<=", 2.0, "ms", ("ours_single",),
         _p99_half, uses="half_load"),
    Goal("redis_warm_ratio", "Redis warm / in-process, single-record req/s", ">=", 0.75,
         "x", ("ours_single", "redis_warm_single"),
         lambda r: ratio(throughput(r, "redis_warm_single"), throughput(r, "ours_single"))),
    Goal("batch256_rows_per_worker", "batch-256 rows/s per worker (columns form)", ">=", 300_000, "rows/s",
         ("ours_b256_columns",), _rows_per_worker),
    Goal("naive_torch_speedup", "ours / naive PyTorch, single-record req/s", ">=", 3.0, "x",
         ("ours_single", "naive_torch_single"),
         lambda r: ratio(throughput(r, "ours_single"), throughput(r, "naive_torch_single"))),
)  # fmt: skip
_OPS = {">=": operator.ge, "<=": operator.le}


def scenario_errors(result: dict[str, Any] | None, runs: str = "all") -> int:
    """Errors of one scenario's runs: ``throughput`` = non-2xx + socket errors of its wrk runs,
    ``half_load`` = non-2xx + dropped requests of its half-load open-loop run, ``all`` = every run."""
    if not result:
        return 0
    total = 0
    if runs in ("all", "throughput"):
        for run in [result.get("wrk"), *result.get("concurrency_sweep", []), *(result.get("interleaved") or [])]:
            if run:
                total += int(run.get("errors", 0))
    if runs == "all":
        for point in [*result.get("sweep", []), *(result.get("interleaved_half_load") or [])]:
            total += int(point.get("errors", 0))
    elif runs == "half_load":
        total += sum(int(point.get("errors", 0)) for point in half_load_points(result))
    return total


def compute_goals(results: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per goal: value, met (True/False/None = not measured) and why."""
    out = []
    for goal in GOALS:
        value = goal.value(results)
        errors = sum(scenario_errors(results.get(name), goal.uses) for name in goal.scenarios)
        if value is None:
            met, why = None, "not measured"
        elif errors:
            met, why = False, f"{errors} errors in the {goal.uses} runs of {', '.join(goal.scenarios)}"
        else:
            met = bool(_OPS[goal.op](value, goal.target))
            why = "met" if met else "not met"
        row = {k: v for k, v in asdict(goal).items() if k != "value"}
        out.append({**row, "scenarios": list(goal.scenarios), "value": value, "met": met, "verdict": why})
    return out


def extra_ratios(results: Mapping[str, dict[str, Any]]) -> dict[str, float | None]:
    """Side-by-side figures that have no goal but explain the ones that do."""
    return {
        "ours_b256_columns_over_records_rows": ratio(throughput(results, "ours_b256_columns", "rows_per_second"),
                                                     throughput(results, "ours_b256_records", "rows_per_second")),
        "ours_over_naive_torch_b256_rows": ratio(throughput(results, "ours_b256_records", "rows_per_second"),
                                                 throughput(results, "naive_torch_b256", "rows_per_second")),
        "ours_b256_columns_over_floor_b256_columns": ratio(throughput(results, "ours_b256_columns"),
                                                           throughput(results, "floor_b256_columns")),
        "two_workers_over_one_single": ratio(throughput(results, "ours_single_2workers"),
                                             throughput(results, "ours_single")),
        # server CPU time per request (from /proc): steadier than req/s on a shared machine; Redis' own CPU excluded
        "floor_ratio_by_server_cpu": ratio(throughput(results, "floor_single", CPU),
                                           throughput(results, "ours_single", CPU)),
        "naive_torch_speedup_by_server_cpu": ratio(throughput(results, "naive_torch_single", CPU),
                                                   throughput(results, "ours_single", CPU)),
        "redis_warm_ratio_by_server_cpu": ratio(throughput(results, "ours_single", CPU),
                                                throughput(results, "redis_warm_single", CPU)),
        # observability (issue 18): > 1 = the first is faster (req/s) or cheaper (server CPU per request)
        "served_metrics_on_over_off_single": ratio(throughput(results, "served_metrics_on_single"),
                                                   throughput(results, "ours_single")),
        "served_metrics_on_over_off_single_by_server_cpu": ratio(throughput(results, "ours_single", CPU),
                                                                 throughput(results, "served_metrics_on_single", CPU)),
        "served_metrics_on_over_off_b256_rows": ratio(throughput(results, "served_metrics_on_b256_columns",
                                                                 "rows_per_second"),
                                                      throughput(results, "ours_b256_columns", "rows_per_second")),
        "multiprocess_over_single_process_single": ratio(throughput(results, "multiprocess_metrics_single"),
                                                         throughput(results, "ours_single")),
        # the feedback loop (issue 19) and authentication (issue 20): on over off, single record
        "impression_log_on_over_off_single": ratio(throughput(results, "impression_log_single"),
                                                   throughput(results, "ours_single")),
        "impression_log_on_over_off_b256_rows": ratio(throughput(results, "impression_log_b256_columns",
                                                                 "rows_per_second"),
                                                      throughput(results, "ours_b256_columns", "rows_per_second")),
        "shadow_on_over_off_single": ratio(throughput(results, "shadow_single"), throughput(results, "ours_single")),
        "auth_on_over_off_single": ratio(throughput(results, "auth_on_single"), throughput(results, "ours_single")),
        "auth_on_over_off_single_by_server_cpu": ratio(throughput(results, "ours_single", CPU),
                                                       throughput(results, "auth_on_single", CPU)),
        "after_over_before_single": ratio(throughput(results, "ours_single"), throughput(results, "before_single")),
        "after_over_before_single_by_server_cpu": ratio(throughput(results, "before_single", CPU),
                                                        throughput(results, "ours_single", CPU)),
        "after_over_before_b256_rows": ratio(throughput(results, "ours_b256_columns", "rows_per_second"),
                                             throughput(results, "before_b256_columns", "rows_per_second")),
    }  # fmt: skip


# -- markdown ------------------------------------------------------------------------------------
def _num(value: Any, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _verdict(goal: dict[str, Any]) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[goal["met"]] + (
        f" ({goal['verdict']})" if goal["verdict"] not in ("met", "not met", "not measured") else ""
    )


def markdown(report: dict[str, Any]) -> str:
    m, results = report["machine"], report["results"]
    lines = [
        "# Serving benchmark: ours against a floor, onnxruntime alone and naive PyTorch",
        "",
        f"Written by `{report['command']}` on {report['created_at']} (model {report['model']['name']} "
        f"version {report['model']['version']}); the markdown and PNG are rendered from `{report['json_name']}`.",
        "",
        f"**Machine**: {m['cpus']} CPUs ({m.get('cpu_model', '?')}), Python {m['python']}, {m['platform']}; "
        f"load average {m['load_average_before'][0]:.2f} before, {m['load_average_after'][0]:.2f} after "
        f"(1-min). {m.get('note', '')}",
        f"**Pinning**: {report['pinning']}",
        f"**Throughput**: {report['method']['throughput']}",
        f"**Latency**: {report['method']['latency']}",
        f"**Requests**: {report['method']['requests']}",
        f"**Micro-batcher**: {report['method']['microbatch']}",
        "",
        "## Goals",
        "",
        "| goal | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for goal in report["goals"]:
        fmt = ",.0f" if goal["unit"] == "rows/s" else ".2f"
        lines.append(f"| {goal['title']} | {goal['op']} {goal['target']:g} {goal['unit']} | "
                     f"{_num(goal['value'], fmt)} {goal['unit']} | {_verdict(goal)} |")  # fmt: skip
    lines += ["", "Other ratios: " + ", ".join(f"{k} = {_num(v, '.2f')}" for k, v in report["ratios"].items()), ""]
    lines += [
        "## Throughput (wrk, closed loop)",
        "",
        "| scenario | server | batch | form | workers | conns | req/s | rows/s | wrk p50 ms | wrk p99 ms "
        "| server CPU ms/req | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        runs = [r["wrk"]] if r.get("wrk") else []
        for run in [*runs, *r.get("concurrency_sweep", [])]:
            lat = run.get("latency_ms", {})
            lines.append(
                f"| {name} | {r['server']} | {r['batch']} | {r['form']} | {r['workers']} | {run['connections']} | "
                f"{_num(run['requests_per_second'])} | {_num(run['rows_per_second'])} | {_num(lat.get('p50'), '.2f')} "
                f"| {_num(lat.get('p99'), '.2f')} | {_num(run.get('server_cpu_ms_per_request'), '.3f')} "
                f"| {run['errors']} |"
            )
    interleaved = {name: r["interleaved"] for name, r in results.items() if r.get("interleaved")}
    if interleaved:
        lines += ["", "### Interleaved rounds (the goals use their medians)", "",
                  "| scenario | wrk req/s per round | median req/s | median server CPU ms/req | wrk errors "
                  "| p99 ms at half load per round | median | non-2xx + dropped |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for name, runs in interleaved.items():
            half = results[name].get("interleaved_half_load") or []
            lines.append(f"| {name} | {', '.join(_num(r['requests_per_second']) for r in runs)} | "
                         f"{_num(throughput(results, name))} | {_num(throughput(results, name, CPU), '.3f')} | "
                         f"{sum(r['errors'] for r in runs)} | "
                         f"{', '.join(_num(p['latency_ms'].get('p99'), '.2f') for p in half) or '-'} | "
                         f"{_num(p99_at_half_load(results, name) if half else None, '.2f')} | "
                         f"{sum(p['errors'] for p in half) if half else '-'} |")  # fmt: skip
    lines += [
        "",
        "## Latency at fixed offered load (open loop; fraction of the scenario's own wrk maximum)",
        "",
        "| scenario | fraction | offered req/s | achieved req/s | p50 ms | p95 ms | p99 ms | max ms | non-2xx "
        "| dropped | driver send lag p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for p in r.get("sweep", []):
            lat = p["latency_ms"]
            lines.append(
                f"| {name} | {p['fraction']:g} | {_num(p['target_rate'])} | {_num(p['requests_per_second'])} | "
                f"{_num(lat.get('p50'), '.2f')} | {_num(lat.get('p95'), '.2f')} | {_num(lat.get('p99'), '.2f')} | "
                f"{_num(lat.get('max'), '.2f')} | {p.get('non_2xx', '-')} | {p.get('dropped', '-')} | "
                f"{_num(p.get('send_lag_ms', {}).get('p99'), '.2f')} |"
            )
    lines += ["", "## onnxruntime `run()` alone (in-process, pinned to the server's CPU)", "",
              "| batch | calls/s | rows/s | µs/call |", "|---|---|---|---|"]  # fmt: skip
    for row in report.get("onnxruntime_alone", []):
        lines.append(f"| {row['batch']} | {_num(row['calls_per_second'])} | {_num(row['rows_per_second'])} | "
                     f"{_num(row['us_per_call'], '.1f')} |")  # fmt: skip
    lines += ["", "## Scenarios", ""]
    for name, r in results.items():
        env = ", ".join(f"{k}={v}" for k, v in sorted(r.get("env", {}).items()) if k != "CTR_MODEL_DIR")
        line = f"- `{name}`: {r['description']} Server: `{r['server_command']}`" + (f"; env {env}" if env else "")
        lines.append(line + (f". **FAILED, not measured**: {r['failed']}" if r.get("failed") else ""))
    checks = report.get("checks", {})
    if checks:
        lines += ["", "## Checks", ""] + [f"- {k}: {v}" for k, v in checks.items()]
    return "\n".join(lines) + "\n"


# -- plot ----------------------------------------------------------------------------------------
PLOTTED = ("ours_single", "floor_single", "redis_warm_single", "naive_torch_single", "ours_single_2workers",
           "microbatch_on_single", "ours_b256_columns")  # fmt: skip


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """p50 (dashed) and p99 (solid) latency vs offered load for the main scenarios; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for name in PLOTTED:
        sweep = (report["results"].get(name) or {}).get("sweep", [])
        if not sweep:
            continue
        for ax, x_key in zip(axes, ("target_rate", "fraction"), strict=True):
            xs = [p[x_key] for p in sweep]
            (line,) = ax.plot(xs, [p["latency_ms"]["p99"] for p in sweep], marker="o", label=f"{name} p99")
            ax.plot(xs, [p["latency_ms"]["p50"] for p in sweep], linestyle="--", marker="x", color=line.get_color(),
                    label=f"{name} p50")  # fmt: skip
    for ax, xlabel in zip(axes, ("offered load (req/s)", "offered load / the scenario's wrk maximum"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("latency (ms, log)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].axhline(2.0, color="grey", linewidth=0.8)
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Open-loop latency vs offered load ({report['created_at']}; server CPU 0, driver CPU 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
