"""One FM training step against table size: dense gradients + Adam vs sparse rows + SparseAdam, in one
process or under DistributedDataParallel (gloo) with several.

    python -m benchmarks.sparse_step --out /tmp/step1.json
    python -m torch.distributed.run --standalone --nproc-per-node 2 -m benchmarks.sparse_step --out /tmp/step2.json

The step is the streamed trainer's own (``training.stream.trainer.Objective`` under ``distributed.wrap``,
``training.train.make_optimizers``): a global batch of ``--batch`` rows (each rank ``batch / N``) of the
synthetic log's shape (39 one-hot slots, ids Zipf(1.1)-distributed over the table, K = ``--dim``). Per
table size and mode it reports milliseconds per step split into forward, backward (where DDP all-reduces
the gradients) and optimizer, and the gradient bytes a step communicates: the whole table for dense
gradients, the batch's rows (ids + values, un-coalesced, as gloo's sparse all-reduce gathers them) for
sparse ones. Run by ``benchmarks/scaling.py`` (part ``sparse``); writes rank 0's JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.model import FactorizationMachine
from training.stream import distributed
from training.stream.job import peak_rss_mb
from training.stream.synthetic import bounded_zipf
from training.stream.trainer import Objective
from training.train import make_optimizers

SLOTS = 39


def measure(table_rows: int, sparse: bool, args: argparse.Namespace, cluster: distributed.Cluster) -> dict[str, Any]:
    torch.manual_seed(0)
    model = FactorizationMachine(table_rows, args.dim, sparse=sparse)
    step = distributed.wrap(Objective(model, 0.01), cluster)
    optimizers = make_optimizers(model, 0.005, sparse)
    rows = args.batch // cluster.world_size
    rng = np.random.default_rng(cluster.rank)
    batches = []
    for _ in range(4):  # a few distinct batches, reused: the step, not the data, is measured
        ids = torch.from_numpy(bounded_zipf(rng, rows * SLOTS, table_rows, 1.1).reshape(rows, SLOTS) - 1)
        batches.append((ids, torch.ones(rows, SLOTS), torch.from_numpy((rng.random(rows) < 0.25).astype(np.float32))))
    timings = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    steps, started, cpu_started = 0, time.perf_counter(), time.process_time()
    touched = int(np.mean([torch.unique(ids).numel() for ids, _, _ in batches]))  # table rows one batch touches
    for i in range(args.warmup + args.max_steps):
        if i == args.warmup:
            timings = dict.fromkeys(timings, 0.0)
            started, cpu_started = time.perf_counter(), time.process_time()
        ids, values, labels = batches[i % len(batches)]
        t0 = time.perf_counter()
        _, objective = step(ids, values, labels)
        t1 = time.perf_counter()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        objective.backward()
        t2 = time.perf_counter()
        for opt in optimizers:
            opt.step()
        t3 = time.perf_counter()
        timings["forward"] += t1 - t0
        timings["backward"] += t2 - t1
        timings["optimizer"] += t3 - t2
        if i >= args.warmup:
            steps += 1
            # every rank must run the same number of steps: agree on stopping once the budget is spent
            if not distributed.all_have(time.perf_counter() - started < args.seconds, cluster):
                break
    cpu = distributed.sum_arrays([np.array([time.process_time() - cpu_started])], cluster)[0][0]
    width = args.dim + 1
    per_step = {k: round(1e3 * v / steps, 3) for k, v in timings.items()}
    return {
        "table_rows": table_rows,
        "mode": "sparse" if sparse else "dense",
        "processes": cluster.world_size,
        "steps": steps,
        "ms_per_step": round(sum(per_step.values()), 3),
        "cpu_ms_per_step": round(1e3 * cpu / steps, 3),  # all ranks' CPU time per step (incl. the stop check)
        "ms": per_step,
        "samples_per_s": round(args.batch * steps / max(sum(timings.values()), 1e-9), 1),
        # what one rank contributes to a step's all-reduce (nothing is exchanged when alone): the whole
        # table's gradient, or the (coalesced) rows its batch touched, each with its int64 index
        "rows_touched": touched,
        "gradient_bytes": table_rows * width * 4 if not sparse else touched * (width * 4 + 8),
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    parser.add_argument("--batch", type=int, default=4096, help="global batch (each rank batch / N)")
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=6.0, help="time budget per (table, mode)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cluster = distributed.start("gloo")
    try:
        results = [measure(v, sparse, args, cluster) for v in args.tables for sparse in (True, False)]
    finally:
        distributed.stop(cluster)
    if cluster.is_main:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"batch": args.batch, "dim": args.dim, "slots": SLOTS, "results": results},
                                       indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
