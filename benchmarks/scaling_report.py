"""reports/scaling.{md,png} from the JSON ``benchmarks/scaling.py`` writes: tables, linear fits, one figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def linear_fit(x: list[float], y: list[float]) -> dict[str, float]:
    """Least-squares y = a + b·x with R² (needs 2+ points)."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(xs, ys, 1)
    residual = ((ys - (a + b * xs)) ** 2).sum()
    total = ((ys - ys.mean()) ** 2).sum()
    return {"intercept": float(a), "slope": float(b), "r2": float(1 - residual / total) if total else 1.0}


def runs_of(report: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [r for key, r in report["runs"].items() if key.startswith(prefix)]


def one_process_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((r for r in runs_of(report, "rows-") if r["processes"] == 1), key=lambda r: r["rows"])


def analyse(report: dict[str, Any]) -> dict[str, Any]:
    rows = one_process_rows(report)
    out: dict[str, Any] = {}
    if len(rows) >= 2:
        x = [r["rows"] for r in rows]
        out["train_fit"] = linear_fit(x, [r["train_seconds"] for r in rows])
        out["count_fit"] = linear_fit(x, [r["count_seconds"] for r in rows])
        out["train_cpu_fit"] = linear_fit(x, [r["train_cpu_seconds"] for r in rows])
        out["count_cpu_fit"] = linear_fit(x, [r["count_cpu_seconds"] for r in rows])
        peaks = [r["peak_rss_mb"]["max"] for r in rows]
        out["rss"] = {"min": min(peaks), "max": max(peaks), "spread": (max(peaks) - min(peaks)) / min(peaks)}
    return out


def markdown(report: dict[str, Any]) -> str:
    runs, fits = report["runs"], analyse(report)
    lines = ["# Scaling of the streamed trainer", "",
             f"Written by `{report['command']}` (every run's summary is in `scaling.json`). Machine: "
             f"{report['machine_runs'][-1]['cpus']} CPUs **shared** with other jobs (load averages at each run "
             "are in the JSON): compare rows of this report, not absolute figures across machines. One epoch per "
             "run, K = 8, global batch 4096, sparse rows + SparseAdam unless marked dense, 1 torch thread per "
             "process, fresh processes per run. Wall-clock figures depend on how much of the shared cores a run got; "
             "CPU seconds (summed over processes) depend much less on it, so both are given.", ""]  # fmt: skip
    rows = sorted((r for k, r in runs.items() if k.startswith("rows-")), key=lambda r: (r["rows"], r["processes"]))
    if rows:
        lines += ["## Rows: time and peak memory", "",
                  "| training rows | processes | features | counting s (CPU s) | training s (CPU s) | samples/s "
                  "| samples per CPU s | peak RSS MiB (max per process) | per process | test AUC |",
                  "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            lines.append(f"| {r['rows']:,} | {r['processes']} | {r['features']:,} | {r['count_seconds']:.1f} "
                         f"({r['count_cpu_seconds']:.1f}) | {r['train_seconds']:.1f} ({r['train_cpu_seconds']:.1f}) | "
                         f"{r['samples_per_s']:,.0f} | {r['rows'] / r['train_cpu_seconds']:,.0f} | "
                         f"{r['peak_rss_mb']['max']:.0f} | "
                         f"{', '.join(f'{p:.0f}' for p in r['peak_rss_mb']['per_rank'])} | "
                         f"{r['test_auc']:.4f} |")  # fmt: skip
        if "train_fit" in fits:
            m = fits["rss"]
            lines += ["", "1 process, least squares over the rows above (seconds = a + b × rows):", ""]
            named = (("training, wall", "train_fit"), ("training, CPU", "train_cpu_fit"),
                     ("counting, wall", "count_fit"), ("counting, CPU", "count_cpu_fit"))  # fmt: skip
            for name, fit in ((name, fits[key]) for name, key in named):
                lines.append(f"* {name}: {fit['intercept']:.1f} s + {fit['slope'] * 1e6:.2f} µs × rows "
                             f"(R² = {fit['r2']:.4f})")  # fmt: skip
            ones = [r for r in rows if r["processes"] == 1]
            growth = ones[-1]["rows"] // ones[0]["rows"]
            lines += ["", f"Peak RSS of the 1-process runs from {m['min']:.0f} to {m['max']:.0f} MiB "
                      f"({m['spread']:.1%} spread) while rows grow {growth}×."]  # fmt: skip
    pairs = [(runs.get(f"rows-{n}-p1"), runs.get(f"rows-{n}-p2")) for n in (1_000_000, 10_000_000)]
    if any(a and b for a, b in pairs):
        lines += ["", "## 1 vs 2 processes", "",
                  "| training rows | samples/s, 1 process | samples/s, 2 processes | ratio | training CPU s 1 → 2 "
                  "| counting s 1 → 2 | peak RSS MiB 1 → 2 (sum) | test AUC 1 → 2 |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for a, b in pairs:
            if a and b:
                lines.append(f"| {a['rows']:,} | {a['samples_per_s']:,.0f} | {b['samples_per_s']:,.0f} | "
                             f"{b['samples_per_s'] / a['samples_per_s']:.2f} | {a['train_cpu_seconds']:.0f} → "
                             f"{b['train_cpu_seconds']:.0f} | {a['count_seconds']:.1f} → "
                             f"{b['count_seconds']:.1f} | {a['peak_rss_mb']['sum']:.0f} → "
                             f"{b['peak_rss_mb']['sum']:.0f} | {a['test_auc']:.4f} → "
                             f"{b['test_auc']:.4f} |")  # fmt: skip
        lines += ["", "Phase seconds of rank 0's epoch (data = read + encode + shuffle, agree = the per-step check "
                  "that every rank has a batch, step = forward + backward with the all-reduce + optimizer):", "",
                  "| run | data | agree | step |", "|---|---|---|---|"]  # fmt: skip
        for a, b in pairs:
            for r in (a, b):
                if r:
                    p = r["phases"]
                    lines.append(f"| {r['rows']:,} rows, {r['processes']} process(es) | {p['data_seconds']:.1f} | "
                                 f"{p['agree_seconds']:.1f} | {p['step_seconds']:.1f} |")  # fmt: skip
    features = sorted(runs_of(report, "features-"), key=lambda r: (r["scale"], r["sparse"]))
    if features:
        lines += ["", "## Features (table size): 1 process, 1M training rows", "",
                  "| cardinality scale | features | gradients | samples/s | samples per CPU s | training s (CPU s) "
                  "| peak RSS MiB |", "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in features:
            lines.append(f"| {r['scale']:g} | {r['features']:,} | {'sparse' if r['sparse'] else 'dense'} | "
                         f"{r['samples_per_s']:,.0f} | {r['rows'] / r['train_cpu_seconds']:,.0f} | "
                         f"{r['train_seconds']:.1f} ({r['train_cpu_seconds']:.1f}) | "
                         f"{r['peak_rss_mb']['max']:.0f} |")  # fmt: skip
    steps = [r for k, run in runs.items() if k.startswith("sparse-step") for r in run["results"]]
    if steps:
        lines += ["", "## One training step against table size (benchmarks/sparse_step.py)", "",
                  "| table rows | gradients | processes | ms per step | forward | backward (+ all-reduce) | optimizer "
                  "| CPU ms per step (all ranks) | gradient MB per rank per step | samples/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in sorted(steps, key=lambda r: (r["table_rows"], r["mode"], r["processes"])):
            ms = r["ms"]
            lines.append(f"| {r['table_rows']:,} | {r['mode']} | {r['processes']} | {r['ms_per_step']:.1f} | "
                         f"{ms['forward']:.1f} | {ms['backward']:.1f} | {ms['optimizer']:.1f} | "
                         f"{r.get('cpu_ms_per_step', float('nan')):.1f} | "
                         f"{r['gradient_bytes'] / 1e6:.2f} | {r['samples_per_s']:,.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def figure(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    rows = one_process_rows(report)
    if rows:
        x = np.array([r["rows"] for r in rows]) / 1e6
        for name, label in (("train_seconds", "training, wall"), ("train_cpu_seconds", "training, CPU"),
                            ("count_seconds", "counting, wall"), ("count_cpu_seconds", "counting, CPU")):  # fmt: skip
            axes[0, 0].plot(x, [r[name] for r in rows], "o-" if "wall" in label else "s--", label=label)
        axes[0, 0].set(xlabel="training rows (millions)", ylabel="seconds (1 process)", title="Time against rows")
        axes[0, 0].legend()
        axes[0, 1].plot(x, [r["peak_rss_mb"]["max"] for r in rows], "o-", label="peak RSS")
        axes[0, 1].set(xlabel="training rows (millions)", ylabel="MiB", title="Peak RSS against rows (1 process)",
                       ylim=(0, None))  # fmt: skip
    features = [r for k, r in runs.items() if k.startswith("features-")]
    for sparse in (True, False):
        pts = sorted((r for r in features if r["sparse"] == sparse), key=lambda r: r["features"])
        if pts:
            axes[1, 0].plot([r["features"] for r in pts], [r["rows"] / r["train_cpu_seconds"] for r in pts], "o-",
                            label="sparse rows + SparseAdam" if sparse else "dense + Adam")  # fmt: skip
    axes[1, 0].set(xscale="log", xlabel="features (table rows)", ylabel="samples per CPU second",
                   title="Throughput against table size (1M rows)")  # fmt: skip
    if features:
        axes[1, 0].legend()
    steps = [r for k, run in runs.items() if k.startswith("sparse-step") for r in run["results"]]
    for mode in ("sparse", "dense"):
        for procs in (1, 2):
            pts = [r for r in steps if r["mode"] == mode and r["processes"] == procs]
            pts.sort(key=lambda r: r["table_rows"])
            if pts:
                axes[1, 1].plot([r["table_rows"] for r in pts], [r["ms_per_step"] for r in pts], "o-",
                                label=f"{mode}, {procs} process(es)")  # fmt: skip
    axes[1, 1].set(xscale="log", yscale="log", xlabel="table rows", ylabel="ms per step (global batch 4096)",
                   title="One step against table size")  # fmt: skip
    if steps:
        axes[1, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def render(json_path: Path) -> None:
    report = json.loads(Path(json_path).read_text())
    report["analysis"] = analyse(report)
    Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    Path(json_path).with_suffix(".md").write_text(markdown(report))
    figure(report, Path(json_path).with_suffix(".png"))
