"""``ctr train``: argument parsing only; torch is imported when the command runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from training import dataset_cli
from training.config import AUGMENTATIONS, PRESETS, SALIENCY_MODES
from training.stream import cli as stream_cli


def register(commands: Any) -> None:
    p = commands.add_parser(
        "train",
        help="train an FM on a dataset and export a versioned artifact",
        description=(
            "Read the dataset a schema declares, fit the feature vocabulary on the training split, train a "
            "factorization machine with early stopping on validation AUC, then export the best epoch "
            "(ONNX scorer + tables + vocabulary, parity-checked against PyTorch) to <out>/<name>/<version>/."
        ),
    )
    p.add_argument("--dataset", default="datasets/ml100k.toml", help="dataset schema (TOML)")
    p.add_argument("--data", action="append", default=None, help=dataset_cli.DATA_HELP + " (repeat --data)")
    p.add_argument("--config", choices=sorted(PRESETS), default="default",
                   help="preset of hyper-parameters; 'paper' is the SMFM authors' protocol")  # fmt: skip
    dataset_cli.add_split_arguments(p)
    p.add_argument("--augment", choices=AUGMENTATIONS, default=None,
                   help="training-time augmentation: copy = CopyFM control, mixfm, smfm (docs/smfm.md)")  # fmt: skip
    p.add_argument("--saliency", choices=SALIENCY_MODES, default=None, help="SMFM saliency (default: signed)")
    p.add_argument("--no-merge", dest="mix_merge", action="store_const", const=False, default=None,
                   help="keep a feature present in both parents in two slots, as the authors' code does")  # fmt: skip
    p.add_argument("--compile", action="store_const", const=True, default=None,
                   help="torch.compile the training step (one-off compile, faster epochs)")  # fmt: skip
    for flag, kind, text in (
        ("--dim", int, "embedding size K"),
        ("--lr", float, "Adam learning rate"),
        ("--batch-size", int, "mini-batch size"),
        ("--epochs", int, "maximum epochs"),
        ("--patience", int, "early-stopping patience in epochs"),
        ("--l2", float, "L2 weight on the table rows gathered in each batch"),
        ("--seed", int, "seed of initialisation and shuffling"),
        ("--threads", int, "torch threads (0 = default)"),
        ("--mix-ratio", float, "extra mixed/copied rows per epoch, as a fraction of the training rows"),
        ("--mix-alpha", float, "λ ~ Beta(α, α) folded into [0.5, 1]"),
        ("--candidates", int, "SMFM: random mixes scored per row"),
        ("--shared-penalty", float, "merged MixFM/SMFM: weight μ of μ·λ(1−λ)·‖v_f‖² per feature both parents hold"),
    ):
        p.add_argument(flag, type=kind, default=None, help=f"{text} (default: from --config)")
    p.add_argument("--out", default="models", help="directory holding model directories")
    p.add_argument("--name", default=None, help="model name (default: the dataset's name)")
    p.add_argument("--no-export", action="store_true", help="train and report only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    dataset_cli.register(commands)
    stream_cli.register(commands)
    replay = commands.add_parser(
        "replay",
        help="rewrite a click log as daily Parquet partitions (date=YYYY-MM-DD/), for the nightly job",
        description="Read the dataset a schema declares and write one partition per UTC day of its timestamp "
        "column: <out>/date=YYYY-MM-DD/part-0.parquet, raw columns unchanged. Partitions appear atomically; "
        "existing ones are kept unless --force. With --shift-to the days move so that the last one is that date "
        "(e.g. yesterday), so a nightly job run today finds data.",
        epilog="example: ctr replay --out data/ml100k-daily --shift-to yesterday   (MovieLens-100k by default)",
    )
    replay.add_argument("--dataset", default="datasets/ml100k.toml", help="dataset schema (TOML)")
    replay.add_argument("--data", default=None, help=dataset_cli.DATA_HELP)
    replay.add_argument("--out", required=True, help="directory of the daily partitions")
    replay.add_argument("--shift-to", default=None, help="move the days so that the last one is this date "
                        "(YYYY-MM-DD, or 'yesterday'); default: the data's own dates")  # fmt: skip
    replay.add_argument("--force", action="store_true", help="rewrite partitions that exist")
    replay.set_defaults(run=run_replay)
    join = commands.add_parser(
        "join",
        help="turn a day of logged impressions and feedback into a labelled partition",
        description="Read the server's impression log and feedback for one day (CTR_IMPRESSION_DIR) and write "
        "<out>/date=D/part-0.jsonl: every distinct impression with its raw fields as served, clicked = 1 when a "
        "click for its request id and row came within the attribution window, else 0. Re-running rewrites the "
        "same partition (idempotent). Train on it with a schema like datasets/ml100k_feedback.toml.",
    )
    join.add_argument("--date", required=True, help="the day of the impressions, YYYY-MM-DD (or 'yesterday')")
    join.add_argument("--log-dir", default="logs", help="the impression log (CTR_IMPRESSION_DIR)")
    join.add_argument("--out", default="data/joined", help="where the labelled date=D/ partitions go")
    join.add_argument("--window-hours", type=float, default=24.0, help="attribution window after an impression")
    join.add_argument("--json", action="store_true", help="print the counts as JSON")
    join.set_defaults(run=run_join)


def run_replay(args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from contract.schema import load_schema
    from training.data.replay import write_daily_partitions

    shift_to = None
    if args.shift_to is not None:
        today = dt.datetime.now(dt.UTC).date()
        try:
            shift_to = today - dt.timedelta(days=1) if args.shift_to == "yesterday" else dt.date.fromisoformat(
                args.shift_to)  # fmt: skip
        except ValueError:
            print(f"ctr replay: error: --shift-to {args.shift_to!r} is not YYYY-MM-DD or 'yesterday'", file=sys.stderr)
            return 2
    result = write_daily_partitions(load_schema(args.dataset), args.data, Path(args.out), shift_to, args.force)
    shifted = f", shifted by {result.shift_days:+d} days" if result.shift_days else ""
    print(f"{args.out}: {result.rows:,} rows in {result.days} daily partitions, {result.first} .. {result.last}"
          f"{shifted}")  # fmt: skip
    return 0


def run_join(args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from training.data.join import join_day

    try:
        day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1) if args.date == "yesterday"
               else dt.date.fromisoformat(args.date))  # fmt: skip
    except ValueError:
        print(f"ctr join: error: --date {args.date!r} is not YYYY-MM-DD or 'yesterday'", file=sys.stderr)
        return 2
    if args.window_hours <= 0:
        print("ctr join: error: --window-hours must be > 0", file=sys.stderr)
        return 2
    result = join_day(Path(args.log_dir), day, Path(args.out), args.window_hours * 3600)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{result.path}: {result.impressions:,} impressions ({result.positives:,} clicked, "
              f"{result.negatives:,} not), {result.duplicates} duplicate lines skipped, "
              f"{result.clicks_outside_window} clicks outside the window, "
              f"{result.feedback_events} feedback events read")  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        from training.pipeline import run as run_pipeline
    except ImportError as exc:
        print(f"ctr train needs the training extra (pip install -e '.[train]'): {exc}", file=sys.stderr)
        return 2
    try:
        config = PRESETS[args.config].replace(
            dim=args.dim, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, patience=args.patience,
            l2=args.l2, seed=args.seed, threads=args.threads, augment=args.augment, mix_ratio=args.mix_ratio,
            mix_alpha=args.mix_alpha, mix_merge=args.mix_merge, candidates=args.candidates, saliency=args.saliency,
            compile=args.compile, shared_penalty=args.shared_penalty,
        )  # fmt: skip
        data = dataset_cli.data_argument(args.data)
    except ValueError as exc:
        print(f"ctr train: error: {exc}", file=sys.stderr)
        return 2
    summary = run_pipeline(
        args.dataset, config, data=data, out_dir=args.out, name=args.name,
        split=dataset_cli.split_method(args, data), split_seed=args.split_seed, split_sizes=args.split_sizes,
        export=not args.no_export, progress=not args.quiet,
    )  # fmt: skip
    test = summary["test"]
    print(
        f"test AUC {test['auc']:.4f}  log loss {test['logloss']:.4f}  ECE {test['ece']:.4f}  "
        f"(best epoch {summary['best_epoch']} of {summary['epochs_run']}, {summary['split']['method']} split)",
        file=sys.stderr,
    )
    if "artifact" in summary:
        print(f"artifact: {summary['artifact']}", file=sys.stderr)
    print(json.dumps(summary))
    return 0
