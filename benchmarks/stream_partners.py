"""Where MixFM/SMFM partners come from when training is streamed: the whole training set, a shuffle buffer,
or each rank's own half of the data. Test AUC over seeds, on synthetic Criteo-like data.

    python -m benchmarks.stream_partners --out reports/stream_partners.json      # ~10 minutes

The streamed trainer mixes each row with a partner drawn uniformly from the same shuffle buffer of the
same rank (``training/stream/batches.py``); the in-memory trainer draws it from every training row. This
runs the streamed trainer with three partner pools on the same data and seeds: ``all rows`` (one process,
a buffer larger than the training part: the in-memory trainer's pool), ``buffer`` (one process,
``--buffer-rows`` rows per buffer), and ``2 ranks`` (two processes under torchrun, each mixing within its
own half), for ``none`` (no mixing: the control for the order effects of buffers and ranks), MixFM and SMFM.
Writes every run and a markdown table of mean ± std test AUC and the paired difference to ``all rows``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training.stream.synthetic import SyntheticSpec, generate

ROOT = Path(__file__).resolve().parents[1]
SPEC = SyntheticSpec(rows=400_000, shard_rows=50_000, shards_per_day=2, seed=11, cardinality_scale=0.05)
POOLS = ("all rows", "buffer", "2 ranks")
METHODS = ("none", "mixfm", "smfm")
JOB = """dataset = "{root}/datasets/criteo_synthetic.toml"
data = "{data}"
[input]
chunk_rows = 16384
buffer_rows = {buffer}
[training]
dim = 8
lr = 0.005
batch_size = 1024
epochs = 4
patience = 1
l2 = 0.01
threads = 1
sparse = true
augment = "{method}"
seed = {seed}
"""


def one(data: Path, work: Path, pool: str, method: str, seed: int, buffer_rows: int) -> dict[str, Any]:
    key = f"{method}-{pool.replace(' ', '_')}-{seed}"
    job = work / f"{key}.toml"
    buffer = buffer_rows if pool == "buffer" else 1_000_000  # beyond the 200k training rows: one buffer
    job.write_text(JOB.format(root=ROOT, data=data, buffer=buffer, method=method, seed=seed))
    summary = work / f"{key}.summary.json"
    nproc = "2" if pool == "2 ranks" else "1"
    command = [sys.executable, "-m", "training.stream", "train", "--config", str(job), "--nproc", nproc,
               "--no-export", "--quiet", "--summary", str(summary)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{key} failed:\n{result.stderr[-3000:]}")
    s = json.loads(summary.read_text())
    return {"pool": pool, "method": method, "seed": seed, "test_auc": s["test"]["auc"],
            "test_logloss": s["test"]["logloss"], "best_epoch": s["best_epoch"],
            "validation_auc": s["validation"]["auc"]}  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = ["# MixFM/SMFM partners under streaming", "",
             f"Written by `{report['command']}` on {report['created_at']}.",
             f"Data: `SyntheticSpec({report['spec']})`: 200k training rows (2 dates), 100k validation, 100k test; "
             f"the planted model's test AUC is {report['ceiling']:.4f}. Seeds {report['seeds']}; buffer = "
             f"{report['buffer_rows']:,} rows. Δ = mean paired difference to `all rows` (same method and seed) "
             "± its standard deviation.", "",
             "| method | partners from | test AUC | Δ vs all rows |", "|---|---|---|---|"]  # fmt: skip
    for method in METHODS:
        base = {r["seed"]: r["test_auc"] for r in runs if r["method"] == method and r["pool"] == "all rows"}
        for pool in POOLS:
            got = {r["seed"]: r["test_auc"] for r in runs if r["method"] == method and r["pool"] == pool}
            if not got:
                continue
            values = np.array(list(got.values()))
            diffs = np.array([got[s] - base[s] for s in got if s in base])
            delta = "-" if pool == "all rows" or not len(diffs) else f"{diffs.mean():+.4f} ± {diffs.std(ddof=1):.4f}"
            lines.append(f"| {method} | {pool} | {values.mean():.4f} ± {values.std(ddof=1):.4f} | {delta} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "stream_partners.json")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "partners")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--buffer-rows", type=int, default=16_384)
    args = parser.parse_args(argv)
    meta = generate(SPEC, args.data_dir, workers=1, progress=False)
    work = args.data_dir / "runs"
    work.mkdir(parents=True, exist_ok=True)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    done = {(r["pool"], r["method"], r["seed"]) for r in report["runs"]}
    command = "python -m benchmarks.stream_partners " + " ".join(argv if argv is not None else sys.argv[1:])
    report.update(command=command,
                  created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), spec=SPEC.to_dict(),
                  ceiling=meta["ceiling"][meta["shards"][-1]["date"]]["auc"], seeds=args.seeds,
                  buffer_rows=args.buffer_rows, load_average=list(os.getloadavg()))  # fmt: skip
    for seed in args.seeds:
        for method in METHODS:
            for pool in POOLS:
                if (pool, method, seed) not in done:
                    print(f"{method} / {pool} / seed {seed}", file=sys.stderr, flush=True)
                    report["runs"].append(one(args.data_dir, work, pool, method, seed, args.buffer_rows))
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
