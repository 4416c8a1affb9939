"""``ctr catalog build``: a new candidate catalog generation for a trained version, without retraining.

``ctr catalog publish`` (copy it into Redis) is registered by ``app.cli.catalog``; ``cli`` makes the
``ctr catalog`` group. Imports no torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from training import dataset_cli


def register(catalog_commands: Any) -> None:
    p = catalog_commands.add_parser(
        "build",
        help="write a new candidate catalog for a trained version (no retraining)",
        description=(
            "Compute, with a trained version's own table, every item's candidate-side fields and FM terms "
            "(linear sum, summed embedding, within-candidate pairs) and write them as a new catalog generation "
            "inside the version directory; then point the version's catalog/CURRENT at it, which servers "
            "re-read on their activation signal (docs/ranking.md). Items come from a JSON-lines file (one object "
            "of candidate fields per line, the id field included; other keys are ignored) or from a dataset's "
            "rows; an item's fields are those of its last line or latest row."
        ),
    )
    p.add_argument("model", help="a version directory, or a model directory (its ACTIVE version, or --version)")
    p.add_argument("--version", default=None, help="version to build for, in a model directory")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", default=None, help="JSON lines of items (candidate fields, id included)")
    source.add_argument("--dataset", default=None, help="dataset schema (TOML) whose rows list the items")
    p.add_argument("--data", action="append", default=None, help=dataset_cli.DATA_HELP + " (with --dataset)")
    p.add_argument("--part", choices=("all", "train", "validation", "test"), default="all",
                   help="with --dataset: which rows of the split to take items from")  # fmt: skip
    p.add_argument(
        "--key", default=None, help="candidate id field (default: current catalog's, else schema's candidate_id)"
    )
    p.add_argument("--no-activate", dest="activate", action="store_false", help="write without pointing CURRENT at it")
    p.set_defaults(run=run_build, command="catalog build")


def run_build(args: argparse.Namespace) -> int:
    from contract.artifact import resolve_artifact
    from contract.schema import load_schema
    from contract.values import EncodingError
    from training.catalog import default_key, records_from_dataset, records_from_items, write_version_catalog

    try:
        data = dataset_cli.data_argument(args.data)
    except ValueError as exc:
        print(f"ctr catalog build: error: {exc}", file=sys.stderr)
        return 2
    version_dir = resolve_artifact(args.model, args.version)
    key = args.key or default_key(version_dir)
    if key is None:
        print("ctr catalog build: error: --key: the version has no catalog and its schema names no candidate_id; "
              "give the candidate id field", file=sys.stderr)  # fmt: skip
        return 2
    lines = None
    if args.items is not None:
        (records, lines), source = records_from_items(args.items), {"items": str(args.items)}
    else:
        schema = load_schema(args.dataset)
        records = records_from_dataset(schema, data, args.part)
        source = {"dataset": str(args.dataset), "data": args.data, "part": args.part}
    try:
        summary = write_version_catalog(version_dir, records, key, source, activate=args.activate)
    except EncodingError as exc:
        where = f"{args.items}, line {lines[exc.row]}" if lines is not None and exc.row is not None else "an item"
        field = f"{exc.field}: " if exc.field else ""
        print(f"ctr catalog build: error: {where}: {field}{exc.message}", file=sys.stderr)
        return 2
    print(f"catalog {summary['generation']} of version {summary['version']}: {summary['items']:,} items "
          f"keyed by {key}" + (" (current)" if args.activate else " (not activated)"), file=sys.stderr)  # fmt: skip
    print(json.dumps(summary))
    return 0
