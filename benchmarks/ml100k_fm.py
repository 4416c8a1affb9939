"""Our default FM on MovieLens-100k: test AUC / log loss / ECE over seeds, time split and random split.

    .venv/bin/python benchmarks/ml100k_fm.py [--seeds 5] [--out reports/ml100k_fm]

Writes ``<out>.json`` (every run) and ``<out>.md`` (mean ± std table). The time split is the schema's
(fixed); for the random split the split seed equals the run's seed, so the std covers both sources.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from contract.schema import load_schema
from training.config import PRESETS
from training.pipeline import prepare, test_report
from training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="datasets/ml100k.toml")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--config", default="default", choices=sorted(PRESETS))
    parser.add_argument("--out", default="reports/ml100k_fm")
    args = parser.parse_args()

    schema = load_schema(args.dataset)
    config = PRESETS[args.config]
    runs = []
    time_split = prepare(schema, split="time")
    jobs = [("time", seed) for seed in range(args.seeds)] + [("random", seed) for seed in range(args.seeds)]
    for split, seed in tqdm(jobs, desc="runs"):
        prepared = time_split if split == "time" else prepare(schema, split="random", seed=seed)
        started = time.perf_counter()
        result = train(config.replace(seed=seed), prepared.train, prepared.validation,
                       prepared.encoder.num_features, progress=False)  # fmt: skip
        report = test_report(result, prepared)
        runs.append({"split": split, "seed": seed, "seconds": round(time.perf_counter() - started, 2), **report})

    summary = {}
    for split in ("time", "random"):
        rows = [r for r in runs if r["split"] == split]
        summary[split] = {
            metric: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
            for metric in ("auc", "logloss", "ece")
            if (v := [r["test"][metric] for r in rows])
        }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"command": f"python benchmarks/ml100k_fm.py --seeds {args.seeds} --config {args.config}",
            "config": config.to_dict(), "torch": torch.__version__, "python": platform.python_version()}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps({**meta, "summary": summary, "runs": runs}, indent=2))
    lines = [
        f"# FM on MovieLens-100k ({args.seeds} seeds)",
        "",
        f"Command: `{meta['command']}`; config `{args.config}`: {json.dumps(config.to_dict())}",
        "",
        "| split | test AUC | test log loss | test ECE |",
        "|---|---|---|---|",
    ]
    for split, s in summary.items():
        cells = " | ".join(f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}" for m in ("auc", "logloss", "ece"))
        lines.append(f"| {split} | {cells} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
