"""``ctr stream generate | count | train``; also ``python -m training.stream ...``, which is what ``torchrun``
starts in every process::

    ctr stream generate data/criteo_synthetic --rows 10000000 --workers 2
    ctr stream train --config configs/stream_criteo.toml                      # one process
    ctr stream train --config configs/stream_criteo.toml --nproc 2            # torchrun on this machine
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint head:29400 \\
        -m training.stream train --config job.toml                            # a cluster (docs/scaling.md)

Argument parsing only: torch is imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from training.config import AUGMENTATIONS

_TRAINING_FLAGS = (
    ("--dim", int, "embedding size K"),
    ("--lr", float, "learning rate"),
    ("--batch-size", int, "GLOBAL mini-batch (each of N processes takes batch/N rows)"),
    ("--epochs", int, "maximum epochs"),
    ("--patience", int, "early-stopping patience in epochs"),
    ("--l2", float, "L2 weight on the rows gathered in each batch"),
    ("--seed", int, "seed of initialisation, shard order and shuffling"),
    ("--threads", int, "torch threads per process (0 = torch's default)"),
    ("--mix-ratio", float, "MixFM/SMFM: mixed rows per original row"),
)


def register(commands: Any) -> None:
    stream = commands.add_parser(
        "stream",
        help="streamed, sharded, distributed training (synthetic Criteo-like data, torchrun)",
        description="Train on data larger than memory: shards are counted (mergeable counts, in parallel), "
        "then streamed through a shuffle buffer into DistributedDataParallel training. See docs/scaling.md.",
    )
    add_commands(stream.add_subparsers(dest="stream_command", required=True, metavar="<command>"))


def add_commands(sub: Any) -> None:
    """The sub-commands of ``ctr stream`` (which ``python -m training.stream`` runs too)."""
    gen = sub.add_parser("generate", help="write synthetic Criteo-like dated Parquet shards with a planted FM")
    gen.add_argument("out", type=Path, help="directory to write date=YYYY-MM-DD/part-NNNNN.parquet into")
    gen.add_argument("--rows", type=int, required=True, help="total rows")
    gen.add_argument("--shard-rows", type=int, default=1_000_000, help="rows per shard")
    gen.add_argument("--shards-per-day", type=int, default=4, help="shards per date partition")
    gen.add_argument("--seed", type=int, default=0, help="seed of the planted model and of every shard")
    gen.add_argument("--cardinality-scale", type=float, default=1.0, help="multiplies every field's cardinality")
    gen.add_argument("--zipf-exponent", type=float, default=1.1, help="power law of categorical value frequencies")
    gen.add_argument("--planted-dim", type=int, default=4, help="factors of the planted FM")
    gen.add_argument("--workers", type=int, default=1, help="processes writing shards")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(run=run_generate, command="stream generate")

    count = sub.add_parser("count", help="the counting pass alone: vocabulary size per field, in parallel")
    count.add_argument("schema", help="dataset schema (TOML)")
    count.add_argument("data", help="directory of shards (all of them are counted)")
    count.add_argument("--workers", type=int, default=1, help="processes counting shards")
    count.add_argument("--chunk-rows", type=int, default=65_536, help="rows read at a time")
    count.add_argument("--quiet", action="store_true", help="no progress bar")
    count.set_defaults(run=run_count, command="stream count")

    train = sub.add_parser("train", help="train from a job file (TOML), alone or under torchrun", description=__doc__)
    train.add_argument("--config", type=Path, required=True, help="job file (training/stream/config.py)")
    train.add_argument("--data", type=Path, default=None, help="directory of dated shards (overrides the file)")
    train.add_argument("--out", type=Path, default=None, help="models directory (overrides the file)")
    train.add_argument("--name", default=None, help="model name (overrides the file)")
    train.add_argument("--backend", choices=["gloo", "nccl"], default=None, help="process group backend")
    train.add_argument("--nproc", type=int, default=1, help="start this many processes here with torchrun")
    train.add_argument("--augment", choices=AUGMENTATIONS, default=None, help="none, copy, mixfm or smfm")
    train.add_argument("--buffer-rows", type=int, default=None, help="shuffle/mixing buffer per process")
    train.add_argument("--dense", action="store_true", help="dense gradients and Adam (default: sparse rows)")
    for flag, kind, text in _TRAINING_FLAGS:
        train.add_argument(flag, type=kind, default=None, help=text)
    train.add_argument("--no-export", action="store_true", help="train and report only")
    train.add_argument("--summary", type=Path, default=None, help="also write rank 0's summary JSON here")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=run_train, command="stream train")


def run_generate(args: argparse.Namespace) -> int:
    from training.stream.synthetic import SyntheticSpec, generate

    try:
        spec = SyntheticSpec(rows=args.rows, shard_rows=args.shard_rows, shards_per_day=args.shards_per_day,
                             seed=args.seed, cardinality_scale=args.cardinality_scale,
                             zipf_exponent=args.zipf_exponent, planted_dim=args.planted_dim)  # fmt: skip
    except ValueError as exc:
        print(f"ctr stream generate: error: {exc}", file=sys.stderr)
        return 2
    meta = generate(spec, args.out, workers=args.workers, progress=not args.quiet)
    ceiling = meta["ceiling"]["all"]
    print(f"{spec.rows:,} rows in {spec.shards} shards under {args.out}: positive rate "
          f"{ceiling['positive_rate']:.3f}, AUC of the planted model {ceiling['auc']:.4f}",
          file=sys.stderr)  # fmt: skip
    return 0


def run_count(args: argparse.Namespace) -> int:
    import time

    from contract.encoding import FeatureEncoder
    from contract.schema import load_schema
    from training.stream.counting import count_shards
    from training.stream.shards import list_shards

    schema = load_schema(args.schema)
    shards = list_shards(schema, args.data)
    started = time.perf_counter()
    counted = count_shards(schema, shards, args.chunk_rows, args.workers, progress=not args.quiet)
    encoder = FeatureEncoder.from_counts(schema.fields, counted.counts)
    seconds = time.perf_counter() - started
    print(json.dumps({"shards": len(shards), "rows": sum(counted.rows.values()), "workers": args.workers,
                      "seconds": round(seconds, 3), "features": encoder.num_features,
                      "per_field": {f.spec.name: f.size for f in encoder.fields}}))  # fmt: skip
    return 0


def run_train(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _torchrun(args)
    from training.stream import distributed
    from training.stream.config import load_stream_config
    from training.stream.job import run_job

    config = load_stream_config(args.config)
    changes = {key: getattr(args, key) for key in ("dim", "lr", "batch_size", "epochs", "patience", "l2", "seed",
                                                   "threads", "mix_ratio", "augment")}  # fmt: skip
    if args.dense:
        changes["sparse"] = False
    config = config.replace(data=args.data, out=args.out, name=args.name, backend=args.backend,
                            buffer_rows=args.buffer_rows, training_changes=changes)  # fmt: skip
    cluster = distributed.start(config.backend, config.device)
    try:
        summary = run_job(config, cluster, progress=not args.quiet, export=not args.no_export)
    finally:
        distributed.stop(cluster)
    if cluster.is_main:
        test = summary["test"]
        print(f"test AUC {test['auc']:.4f}  log loss {test['logloss']:.4f}  ECE {test['ece']:.4f}  "
              f"({summary['distributed']['world_size']} process(es), {summary['samples_per_s']:,.0f} samples/s, "
              f"peak RSS {summary['peak_rss_mb']['max']:.0f} MiB per process)", file=sys.stderr)  # fmt: skip
        if "artifact" in summary:
            print(f"artifact: {summary['artifact']}", file=sys.stderr)
        if args.summary is not None:
            args.summary.parent.mkdir(parents=True, exist_ok=True)
            args.summary.write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary))
    return 0


def _torchrun(args: argparse.Namespace) -> int:
    """Run this training command again under torchrun with ``--nproc`` processes on this machine
    (``--standalone`` picks a free rendezvous port)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
               "-m", "training.stream", *child_arguments(args)]  # fmt: skip
    return subprocess.run(command, check=False).returncode


def child_arguments(args: argparse.Namespace) -> list[str]:
    """The ``train`` arguments of ``args`` as every torchrun child gets them (without ``--nproc``)."""
    out = ["train", "--config", str(args.config)]
    for key in ("data", "out", "name", "backend", "augment", "buffer_rows", "summary",
                *(flag[2:].replace("-", "_") for flag, _, _ in _TRAINING_FLAGS)):  # fmt: skip
        if (value := getattr(args, key)) is not None:
            out += [f"--{key.replace('_', '-')}", str(value)]
    switches = (("--dense", args.dense), ("--no-export", args.no_export), ("--quiet", args.quiet))
    out += [flag for flag, on in switches if on]
    return out
