"""``ctr train``: argument parsing only; torch is imported when the command runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from training import dataset_cli
from training.config import AUGMENTATIONS, PRESETS, SALIENCY_MODES


def register(commands: Any) -> None:
    p = commands.add_parser(
        "train",
        help="train an FM on a dataset and export a versioned artifact",
        description=(
            "Read the dataset a schema declares, fit the feature vocabulary on the training split, train a "
            "factorization machine with early stopping on validation AUC, then export the best epoch "
            "(ONNX scorer + tables + vocabulary, parity-checked against PyTorch) to <out>/<name>/<version>/."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
