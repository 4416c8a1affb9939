"""Where a training epoch's time goes, per method, on MovieLens-100k (issue 6: training throughput).

    .venv/bin/python -m benchmarks.train_breakdown --out reports/train_breakdown.json
    .venv/bin/python -m benchmarks.train_breakdown --out reports/train_breakdown.json \\
        --before reports/train_breakdown_before.json          # adds a before/after comparison

Runs the real trainer (``training.train.train``: the code ``ctr train`` runs, nothing re-implemented) for
FM, CopyFM, MixFM and SMFM with the default settings, one torch thread, methods interleaved within each
repeat (the machine is shared: interleaving spreads a disturbance over all methods), and reads the
per-epoch phase seconds the trainer itself logs (time.perf_counter around each phase; CPU only, so no
device sync is needed). The first epoch of each run warms allocators and caches and is not counted.

Phases (``training.train.PHASES``, grouped): data (the epoch's permutation gather + batch slicing),
mix (drawing/copying/mixing rows and pooling them with the originals), saliency (SMFM's scoring of its
candidate mixes: a closed-form, forward-only gradient, no autograd pass), forward (gather + FM + loss),
backward (zero_grad + autograd backward), step (Adam), metric (the per-step running loss) and eval
(the per-epoch validation AUC/log loss); "other" is the epoch's wall time not inside any phase
(scheduler, loop overhead). Per method: median over repeats of the mean over timed epochs.

Writes ``<out>.json``, ``<out>.md`` (tables) and ``<out>.png`` (stacked bars). About 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.config import PRESETS, TrainConfig
from training.tensors import Tensors
from training.train import PHASES, train

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"fm": "none", "copyfm": "copy", "mixfm": "mixfm", "smfm": "smfm"}
LABELS = {"fm": "FM", "copyfm": "CopyFM", "mixfm": "MixFM", "smfm": "SMFM"}
# Report phase -> the trainer's phases it sums; "other" is added as the remainder of the epoch.
GROUPS: dict[str, tuple[str, ...]] = {
    "data": ("shuffle", "batch"),
    "mix": ("mix",),
    "saliency": ("saliency",),
    "forward": ("forward",),
    "backward": ("backward",),
    "step": ("step",),
    "metric": ("metric",),
    "eval": ("eval",),
}
REPORT_PHASES = (*GROUPS, "other")
assert {p for group in GROUPS.values() for p in group} == set(PHASES), "every trainer phase is reported once"


def epoch_breakdown(record: dict[str, Any]) -> dict[str, float]:
    """Seconds per report phase of one epoch record of the trainer's history; "other" = the unmeasured rest."""
    out = {name: sum(record[f"{p}_seconds"] for p in phases) for name, phases in GROUPS.items()}
    out["other"] = record["epoch_seconds"] - sum(out.values())
    return out


def measure(
    config: TrainConfig, train_data: Tensors, validation: Tensors, num_features: int, warmup: int = 1
) -> dict[str, Any]:
    """Train ``config.epochs`` epochs with the trainer and average its phase log over the epochs after
    ``warmup``: seconds per phase, the epoch's wall time, rows and training samples/s (eval excluded)."""
    config = config.replace(patience=config.epochs + 1)  # early stopping must not cut the timed epochs
    history = train(config, train_data, validation, num_features, progress=False).history[warmup:]
    if not history:
        raise ValueError(f"no timed epoch: epochs={config.epochs} <= warmup={warmup}")
    phases = {p: float(np.mean([epoch_breakdown(h)[p] for h in history])) for p in REPORT_PHASES}
    return {
        "phases": phases,
        "epoch_seconds": float(np.mean([h["epoch_seconds"] for h in history])),
        "train_seconds": float(np.mean([h["seconds"] for h in history])),
        "rows": int(history[0]["rows"]),
        "samples_per_s": float(np.mean([h["rows"] / h["seconds"] for h in history])),
        "val_auc": float(history[-1]["val_auc"]),  # after the last epoch: a speed-up must not change results
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats; shares are of the sum of the phase medians (so they add up to 1)."""
    phases = {p: float(np.median([r["phases"][p] for r in runs])) for p in REPORT_PHASES}
    total = sum(phases.values())
    train_seconds = float(np.median([r["train_seconds"] for r in runs]))
    return {
        "rows": runs[0]["rows"],
        "seconds_per_epoch": phases,
        "share": {p: s / total for p, s in phases.items()},
        "epoch_seconds": float(np.median([r["epoch_seconds"] for r in runs])),
        "train_seconds": train_seconds,
        "samples_per_s": float(np.median([r["samples_per_s"] for r in runs])),
        "val_auc": [r["val_auc"] for r in runs],  # one per repeat; repeat i trains with seed i
        "repeats": len(runs),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from training.experiments.datasets import load

    torch.set_num_threads(args.threads)
    data = load(args.dataset)
    base = PRESETS["default"].replace(epochs=args.warmup + args.epochs, threads=args.threads)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for method in args.methods:
            config = base.replace(augment=METHODS[method], seed=args.seed + repeat)
            run = measure(config, data.train, data.validation, data.num_features, args.warmup)
            runs[method].append({"seed": config.seed, **run})
            print(
                f"repeat {repeat + 1}/{args.repeats} {method:7s} {runs[method][-1]['samples_per_s']:>12,.0f} samples/s"
            )
    return {
        "command": "python -m benchmarks.train_breakdown " + " ".join(_argv(args)),
        "dataset": args.dataset,
        "train_rows": len(data.train),
        "slots": int(data.train.ids.shape[1]),
        "features": data.num_features,
        "config": base.to_dict(),
        "timed_epochs": args.epochs,
        "warmup_epochs": args.warmup,
        "phases": {name: list(group) for name, group in GROUPS.items()} | {"other": []},
        "methods": {m: summarise(rs) for m, rs in runs.items()},
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
            "python": platform.python_version(), "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0], "wall_seconds": round(time.perf_counter() - started, 1),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": _commit(),
        },
    }  # fmt: skip


def combine(parts: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """One result from several runs of this benchmark (e.g. one-repeat runs alternated with another
    version of the code, see benchmarks/train_breakdown_ab.sh): their runs pooled, then summarised."""
    first = parts[0]
    same = ("dataset", "config", "timed_epochs", "warmup_epochs")
    if any(p[k] != first[k] for p in parts for k in same):
        raise ValueError(f"parts differ in {same}: not one measurement")
    runs = {m: [r for p in parts for r in p["runs"].get(m, [])] for m in first["runs"]}
    machines = [p["machine"] for p in parts]
    commits = sorted({m["commit"] for m in machines})
    return {
        **{k: v for k, v in first.items() if k not in ("runs", "methods", "machine", "command", "before")},
        "command": command,
        "parts": [p["command"] for p in parts],
        "methods": {m: summarise(rs) for m, rs in runs.items()},
        "runs": runs,
        "machine": {
            **{k: first["machine"][k] for k in ("cpus", "threads", "torch", "python")},
            "load_average_1m_before": min(m["load_average_1m_before"] for m in machines),
            "load_average_1m_after": max(m["load_average_1m_after"] for m in machines),
            "wall_seconds": round(sum(m["wall_seconds"] for m in machines), 1),
            "when": f"{machines[0]['when']} to {machines[-1]['when']}", "commit": "+".join(commits),
        },
    }  # fmt: skip


def markdown(result: dict[str, Any], before: dict[str, Any] | None) -> str:
    m = result["machine"]
    lines = [
        "# Training cost breakdown (issue 6)",
        "",
        f"Command: `{_produced_by(result)}` (commit {m['commit']}, {m['when']}). Dataset {result['dataset']}: "
        f"{result['train_rows']:,} training rows, {result['slots']} slots, {result['features']:,} features; "
        f"default settings (batch {result['config']['batch_size']}, K = {result['config']['dim']}), "
        f"{m['threads']} torch thread(s), {m['cpus']} CPUs shared with other jobs (1-min load average "
        f"{m['load_average_1m_before']:.1f} before, {m['load_average_1m_after']:.1f} after). Seconds per epoch: "
        f"median over {next(iter(result['methods'].values()))['repeats']} repeats (methods interleaved) of the "
        f"mean over {result['timed_epochs']} timed epochs (after {result['warmup_epochs']} warm-up epoch). Samples/s = "
        "training rows per epoch / (augmentation + training seconds), the validation pass excluded. "
        "Val AUC: validation AUC after the last epoch, mean ± std over the repeats (seed = repeat).",
        "",
        "| method | rows/epoch | " + " | ".join(REPORT_PHASES) + " | epoch s | samples/s | val AUC |",
        "|---|---|" + "---|" * (len(REPORT_PHASES) + 3),
    ]
    for method, s in result["methods"].items():
        cells = " | ".join(f"{s['seconds_per_epoch'][p]:.3f} ({100 * s['share'][p]:.0f}%)" for p in REPORT_PHASES)
        lines.append(
            f"| {LABELS[method]} | {s['rows']:,} | {cells} | {s['epoch_seconds']:.3f} | {s['samples_per_s']:,.0f} | "
            f"{_mean_std(s['val_auc'])} |"
        )
    lines += ["", "Cells: seconds per epoch (share of the epoch). " + _phase_legend()]
    if before:
        b = before["machine"]
        lines += [
            "",
            "## Before and after",
            "",
            f"Before: `{_produced_by(before)}`, commit {b['commit']} ({b['when']}, load average "
            f"{b['load_average_1m_before']:.1f} / {b['load_average_1m_after']:.1f}); after: the run above. "
            "Same benchmark script and settings on both sides.",
            "",
            "| method | phase | before s/epoch | after s/epoch | × faster |",
            "|---|---|---|---|---|",
        ]
        for method, s in result["methods"].items():
            if method not in before["methods"]:
                continue
            old = before["methods"][method]
            for p in REPORT_PHASES:
                o, n = old["seconds_per_epoch"][p], s["seconds_per_epoch"][p]
                if max(o, n) >= 0.001:
                    ratio = f"{o / n:.2f}" if n > 0 and o > 0 else "-"
                    lines.append(f"| {LABELS[method]} | {p} | {o:.3f} | {n:.3f} | {ratio} |")
            lines.append(
                f"| {LABELS[method]} | **epoch** | {old['epoch_seconds']:.3f} | {s['epoch_seconds']:.3f} | "
                f"{old['epoch_seconds'] / s['epoch_seconds']:.2f} |"
            )
            lines.append(
                f"| {LABELS[method]} | **samples/s** | {old['samples_per_s']:,.0f} | {s['samples_per_s']:,.0f} | "
                f"{s['samples_per_s'] / old['samples_per_s']:.2f} |"
            )
        lines += [
            "",
            "Validation AUC after the last epoch, before and after, same seeds (a speed-up may change float",
            "rounding, and through it which of two near-tied SMFM candidates is kept; not the results):",
            "",
            "| method | before | after | mean paired difference (after − before) |",
            "|---|---|---|---|",
        ]
        for method, s in result["methods"].items():
            if "val_auc" in before["methods"].get(method, {}):
                old_auc, new_auc = before["methods"][method]["val_auc"], s["val_auc"]
                diff = np.subtract(new_auc[: len(old_auc)], old_auc[: len(new_auc)])
                lines.append(f"| {LABELS[method]} | {_mean_std(old_auc)} | {_mean_std(new_auc)} | "
                             f"{diff.mean():+.1e} (max abs {np.abs(diff).max():.1e}) |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], before: dict[str, Any] | None, path: Path) -> None:
    """Stacked horizontal bars: seconds per epoch by phase, one bar per method (and per before/after)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars: list[tuple[str, dict[str, float]]] = []
    for method, s in result["methods"].items():
        if before and method in before["methods"]:
            bars.append((f"{LABELS[method]} before", before["methods"][method]["seconds_per_epoch"]))
            bars.append((f"{LABELS[method]} after", s["seconds_per_epoch"]))
        else:
            bars.append((LABELS[method], s["seconds_per_epoch"]))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(bars) + 1.6))
    colors = plt.get_cmap("tab10").colors
    left = np.zeros(len(bars))
    for i, phase in enumerate(REPORT_PHASES):
        widths = np.array([max(b[phase], 0.0) for _, b in bars])
        ax.barh([name for name, _ in bars], widths, left=left, color=colors[i % len(colors)], label=phase)
        left += widths
    ax.invert_yaxis()
    ax.set_xlabel("seconds per epoch")
    ax.set_title(f"Training epoch by phase, {result['dataset']} ({result['machine']['threads']} thread)")
    ax.legend(ncol=5, fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _produced_by(result: dict[str, Any]) -> str:
    return result.get("produced_by") or result["command"]


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.4f}"


def _phase_legend() -> str:
    return (
        "data = permutation gather + batch slicing; mix = drawing, copying, mixing and pooling rows; saliency = "
        "SMFM's candidate scoring (closed-form input gradient, forward-only); forward = gather + FM + loss; "
        "backward = zero_grad + autograd backward; step = Adam; metric = running loss; eval = validation "
        "AUC/log loss; other = the rest of the epoch's wall time."
    )


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "training"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def _argv(args: argparse.Namespace) -> list[str]:
    parts = [
        "--out",
        str(args.out),
        "--repeats",
        str(args.repeats),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
    ]
    if args.before:
        parts += ["--before", str(args.before)]
    return parts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("reports/train_breakdown.json"),
                        help="JSON path; the .md and .png are written next to it")  # fmt: skip
    parser.add_argument("--dataset", default="ml100k", help="a name of training/experiments/datasets.py")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per method (median)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first epochs per run")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first repeat (repeat i uses seed + i)")
    parser.add_argument("--before", type=Path, help="an earlier JSON of this benchmark to compare with")
    parser.add_argument("--note", help="the command that produced this result, if not this one (for the report)")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                        help="measure nothing: pool the runs of these JSONs of this benchmark")  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.epochs < 1 or args.warmup < 0:
        parser.error("--repeats and --epochs must be >= 1, --warmup >= 0")

    if args.combine:
        parts = [json.loads(path.read_text()) for path in args.combine]
        result = combine(
            parts, f"python -m benchmarks.train_breakdown --combine <{len(parts)} runs> " + " ".join(_argv(args)[:2])
        )
    else:
        result = run(args)
    if args.note:
        result["produced_by"] = args.note
    before = json.loads(args.before.read_text()) if args.before else None
    if before:
        result["before"] = {"file": str(args.before), "commit": before["machine"]["commit"],
                            "methods": before["methods"]}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result, before)
    args.out.with_suffix(".md").write_text(text)
    plot(result, before, args.out.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
