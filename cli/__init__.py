"""``ctr``: one command line for the offline and online sides.

Sub-commands register themselves from ``training.cli`` and ``app.cli.client``; neither module imports
torch at import time, so ``ctr --help`` and ``ctr serve`` work on a server-only install.
"""

from __future__ import annotations

import argparse
import sys

from app import cli as app_cli
from contract import ArtifactError, EncodingError, SchemaError
from training import cli as training_cli
from training.data.errors import DataError

USER_ERRORS = (SchemaError, EncodingError, ArtifactError, DataError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctr",
        description="Train factorization machines (with MixFM/SMFM augmentation) and serve them for CTR scoring.",
        epilog="Run `ctr <command> --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    training_cli.register(commands)
    app_cli.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"ctr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ctr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
