"""``ctr dataset inspect``, and the data arguments ``ctr train`` shares with it. Imports no torch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PARTS = ("train", "validation", "test")
DATA_HELP = (
    "data file or directory (of files or dated partitions); for a given split, three arguments "
    "train=<path> validation=<path> test=<path>"
)


def register(commands: Any) -> None:
    dataset = commands.add_parser(
        "dataset",
        help="look at a dataset through its schema",
        description="Commands about datasets described by a schema (see docs/datasets.md).",
    )
    sub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="<command>")
    p = sub.add_parser(
        "inspect",
        help="row count, positive rate, split, per-field cardinality and OOV share, encoded sample rows",
        description=(
            "Stream the data a schema describes (chunk by chunk, so files larger than memory work), split it as "
            "`ctr train` would, fit the vocabulary on the training part, and report: rows read and kept (with "
            "the rows dropped and why), the positive rate, each part's size, per field the distinct training "
            "values, the vocabulary kept (min_count), the share of validation rows missing it and the share of "
            "its validation values that are out of vocabulary, and a few validation rows as raw -> encoded."
        ),
    )
    p.add_argument("schema", help="dataset schema (TOML)")
    p.add_argument("data", nargs="*", help=DATA_HELP)
    add_split_arguments(p)
    p.add_argument("--chunk-rows", type=int, default=100_000, help="rows read at a time")
    p.add_argument("--rows", type=int, default=5, help="validation rows to show encoded")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_inspect, command="dataset inspect")


def add_split_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split", choices=["time", "random", "given"], default=None, help="split method; default: the schema's"
    )
    p.add_argument("--split-seed", type=int, default=None, help="seed of the random split; default: the schema's")
    p.add_argument(
        "--split-sizes",
        type=split_sizes,
        default=None,
        metavar="TRAIN,VALID,TEST",
        help="fractions of the random or time split, e.g. 0.8,0.1,0.1; default: the schema's",
    )


def split_sizes(text: str) -> tuple[float, float, float]:
    try:
        sizes = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(sizes) != 3 or min(sizes) <= 0 or abs(sum(sizes) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three positive fractions summing to 1, got {text!r}")
    return sizes  # type: ignore[return-value]


def data_argument(values: list[str] | None) -> str | dict[str, str] | None:
    """``[path]`` -> path; ``[train=a, validation=b, test=c]`` -> {part: path}; ``[]`` -> None (ValueError if mixed)."""
    if not values:
        return None
    parts = {}
    for value in values:
        name, eq, path = value.partition("=")
        if eq and name in PARTS:
            if name in parts:
                raise ValueError(f"data: {name}= given twice")
            parts[name] = path
    if not parts:
        if len(values) > 1:
            raise ValueError(f"data: one path, or train=/validation=/test= paths; got {values}")
        return values[0]
    if len(parts) != len(values) or set(parts) != set(PARTS):
        raise ValueError("data: a given split needs exactly train=<path> validation=<path> test=<path>")
    return parts


def split_method(args: argparse.Namespace, data: str | dict[str, str] | None) -> str | None:
    """``part=path`` data implies the given split unless another one is asked for (then it is an error)."""
    return "given" if isinstance(data, dict) and args.split is None else args.split


def run_inspect(args: argparse.Namespace) -> int:
    from contract.schema import load_schema

    try:
        from training.data.inspection import format_report, inspect_dataset
        from training.data.split import split_spec
    except ImportError as exc:
        print(f"ctr dataset inspect needs the training extra (pip install -e '.[train]'): {exc}", file=sys.stderr)
        return 2
    try:
        data = data_argument(args.data)
    except ValueError as exc:
        print(f"ctr dataset inspect: error: {exc}", file=sys.stderr)
        return 2
    if args.chunk_rows < 1 or args.rows < 0:
        print("ctr dataset inspect: error: --chunk-rows must be >= 1 and --rows >= 0", file=sys.stderr)
        return 2
    schema = load_schema(Path(args.schema))
    spec = split_spec(schema, split_method(args, data), args.split_seed, args.split_sizes)
    report = inspect_dataset(schema, data, spec, args.chunk_rows, args.rows, progress=not args.quiet)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0
