"""Scaling of the streamed trainer: throughput and peak memory against rows, processes and table size.

    python -m benchmarks.scaling --out reports/scaling.json                       # every part (~1.5 h)
    python -m benchmarks.scaling --parts throughput sparse --out /tmp/s.json      # some parts
    python -m benchmarks.scaling --render reports/scaling.json                    # redraw .md/.png

Opt-in, never part of ``make test``; run it with ``nice``. Data: synthetic Criteo-like shards of 500k rows
(``training/stream/synthetic.py``) written once under ``--data-dir`` (default ``data/scaling``, ~50 MB per
million rows); each run trains on a *view*: a directory of symlinks to its first N/500k training shards plus
one validation and one test shard, so runs differ only in what they vary. Every run is one epoch of the
committed job's settings (K = 8, global batch 4096, sparse rows + SparseAdam unless dense, one torch thread
per process, counting in the training processes themselves) in fresh processes
(``python -m training.stream train``, ``--nproc`` for 2), and its summary is kept.

Parts (results are cached per run in the JSON, so an interrupted run resumes; ``--force`` redoes):

* ``rows``: 1 process at 1M, 2M, 5M, 10M, 20M, 50M training rows (cardinality scale 0.25, whose ~280k
  values are all seen by 10M rows): counting and training seconds (linear in rows?) and peak RSS (flat?);
* ``throughput``: 2 processes at 1M and 10M rows, beside the 1-process runs of ``rows``;
* ``features``: 1 process, 1M rows, cardinality scale 0.05 to 4 (tens of thousands to ~1.5M features),
  sparse and dense gradients;
* ``sparse``: ``benchmarks/sparse_step.py`` at tables of 10^4..10^7 rows, 1 and 2 processes.

The machine is shared (2 cores, other jobs running): compare rows of one run; absolute figures drift.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.scaling_report import render
from training.stream.synthetic import SyntheticSpec, write_shards

ROOT = Path(__file__).resolve().parents[1]
SHARD_ROWS = 500_000
BASE_SCALE = 0.25
ROWS = (1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000, 50_000_000)
THROUGHPUT_ROWS = (1_000_000, 10_000_000)
FEATURE_SCALES = (0.05, 0.25, 1.0, 4.0)
SPARSE_TABLES = (10_000, 100_000, 1_000_000, 10_000_000)
PARTS = ("rows", "throughput", "features", "sparse")
JOB = """dataset = "{root}/datasets/criteo_synthetic.toml"
data = "{data}"
out = "{out}"
[input]
chunk_rows = 65536
buffer_rows = 131072
count_workers = 1
[training]
dim = 8
lr = 0.005
batch_size = 4096
epochs = 1
l2 = 0.01
threads = 1
sparse = {sparse}
"""


def spec_for(scale: float, training_rows: int) -> SyntheticSpec:
    """Shards 0..n-1 train, shard n validates, n+1 tests (all from one spec, so views share shards)."""
    return SyntheticSpec(rows=training_rows + 2 * SHARD_ROWS, shard_rows=SHARD_ROWS, shards_per_day=10,
                         seed=0, cardinality_scale=scale)  # fmt: skip


def view(data_dir: Path, scale: float, training_rows: int, pool_rows: int, workers: int = 2) -> Path:
    """A directory of symlinks: the first ``training_rows`` of a pool of ``pool_rows`` training rows, dated
    2024-01-01, its validation shard on 2030-01-01 and its test shard on 2030-01-02."""
    spec = spec_for(scale, pool_rows)
    base = data_dir / f"scale{scale:g}-pool{pool_rows}"
    n = training_rows // SHARD_ROWS
    wanted = [*range(n), spec.shards - 2, spec.shards - 1]
    missing = [i for i in wanted if not (base / spec.shard_path(i)).is_file()]
    if missing:
        write_shards(spec, base, missing, workers=workers)
    target = data_dir / "views" / f"scale{scale:g}-pool{pool_rows}-rows{training_rows}"
    for i, index in enumerate(wanted):
        date = "2024-01-01" if i < n else ("2030-01-01" if i == n else "2030-01-02")
        link = target / f"date={date}" / f"part-{index:05d}.parquet"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to((base / spec.shard_path(index)).resolve())
    return target


def train_run(key: str, data: Path, procs: int, sparse: bool, work: Path) -> dict[str, Any]:
    """One epoch in fresh processes; the job's summary plus the wall time of the whole command."""
    work.mkdir(parents=True, exist_ok=True)
    job = work / f"{key}.toml"
    job.write_text(JOB.format(root=ROOT, data=data, out=work / "models", sparse=str(sparse).lower()))
    summary = work / f"{key}.summary.json"
    command = [sys.executable, "-m", "training.stream", "train", "--config", str(job), "--nproc", str(procs),
               "--no-export", "--quiet", "--summary", str(summary)]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{key} failed:\n{result.stderr[-4000:]}")
    s = json.loads(summary.read_text())
    epoch = s["history"][0]
    return {
        "processes": procs, "sparse": sparse, "features": s["features"], "training_rows": s["training_rows"],
        "wall_seconds": round(wall, 2), "count_seconds": s["seconds"]["count"], "train_seconds": epoch["seconds"],
        "count_cpu_seconds": s["cpu_seconds"]["count"], "train_cpu_seconds": epoch["cpu_seconds"],
        "samples_per_s": s["samples_per_s"], "peak_rss_mb": s["peak_rss_mb"], "test_auc": s["test"]["auc"],
        "phases": {k: epoch[k] for k in ("data_seconds", "augment_seconds", "agree_seconds", "step_seconds")},
        "steps_per_rank": epoch["steps_per_rank"], "ranks_cut_short": epoch["ranks_cut_short"],
        "load_average": list(os.getloadavg()),
    }  # fmt: skip


def planned(parts: list[str], data_dir: Path, work: Path) -> list[tuple[str, dict[str, Any], Any]]:
    """(key, description, thunk) of every run the parts ask for, cheapest first."""
    runs: list[tuple[str, dict[str, Any], Any]] = []
    pool = max(ROWS)

    def rows_run(key: str, rows: int, procs: int) -> dict[str, Any]:
        return train_run(key, view(data_dir, BASE_SCALE, rows, pool), procs, True, work)

    for part, procs, sizes in (("rows", 1, ROWS), ("throughput", 2, THROUGHPUT_ROWS)):
        if part in parts:
            for rows in sizes:
                key = f"rows-{rows}-p{procs}"
                runs.append((key, {"part": part, "rows": rows, "scale": BASE_SCALE},
                             lambda k=key, r=rows, p=procs: rows_run(k, r, p)))  # fmt: skip
    if "features" in parts:
        for scale in FEATURE_SCALES:
            for sparse in (True, False):
                key = f"features-{scale:g}-{'sparse' if sparse else 'dense'}"
                data = lambda s=scale: view(data_dir, s, 1_000_000, 1_000_000)  # noqa: E731
                runs.append((key, {"part": "features", "rows": 1_000_000, "scale": scale},
                             lambda k=key, d=data, sp=sparse: train_run(k, d(), 1, sp, work)))  # fmt: skip
    if "sparse" in parts:
        for procs in (1, 2):
            key = f"sparse-step-p{procs}"
            runs.append((key, {"part": "sparse", "processes": procs}, lambda p=procs: sparse_run(p, work)))
    return sorted(runs, key=lambda run: run[1].get("rows", 5_000_000))  # cheapest first: big runs last


def sparse_run(procs: int, work: Path) -> dict[str, Any]:
    out = work / f"sparse-step-p{procs}.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
               "-m", "benchmarks.sparse_step", "--tables", *map(str, SPARSE_TABLES), "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"sparse step p{procs} failed:\n{result.stderr[-4000:]}")
    return json.loads(out.read_text())


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": list(os.getloadavg()), "shared": True}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "scaling.json")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "scaling")
    parser.add_argument("--force", action="store_true", help="redo runs already in the JSON")
    parser.add_argument("--render", type=Path, default=None, help="only redraw .md/.png from this JSON")
    args = parser.parse_args(argv)
    if args.render is not None:
        render(args.render)
        return 0
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    report.setdefault("runs", {})
    report["command"] = "python -m benchmarks.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
    report.setdefault("machine_runs", []).append({"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                                  "parts": args.parts, **machine()})  # fmt: skip
    work = args.data_dir / "runs"
    for key, description, run in planned(args.parts, args.data_dir, work):
        if key in report["runs"] and not args.force:
            continue
        print(f"{key} ...", file=sys.stderr, flush=True)
        finished = {"finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        report["runs"][key] = {**description, **run(), **finished}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")  # after every run: an interruption loses one
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    render(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
