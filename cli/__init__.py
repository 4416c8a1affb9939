"""``ctr``: one command line for the offline and online sides.

Sub-commands register themselves from ``training.cli`` and ``app.cli.client``; neither module imports
torch at import time, so ``ctr --help`` and ``ctr serve`` work on a server-only install.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys

from app import cli as app_cli
from app.cli import catalog as app_catalog_cli
from app.settings import unknown_variables
from contract import ArtifactError, EncodingError, SchemaError
from contract.logs import configure as configure_logs
from contract.toml_keys import ConfigKeyError
from retrain import cli as retrain_cli
from training import catalog_cli
from training import cli as training_cli
from training.data.errors import DataError

USER_ERRORS = (SchemaError, ConfigKeyError, EncodingError, ArtifactError, DataError)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Adds "(default: x)" where it tells something: not to flags, not to None, not where help says it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _use_formatter(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctr",
        description="Train factorization machines (with MixFM/SMFM augmentation) and serve them for CTR scoring.",
        epilog="Run `ctr <command> --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    training_cli.register(commands)
    app_cli.register(commands)
    catalog = commands.add_parser(
        "catalog",
        help="the candidate catalog of a model version: build it, publish it to Redis",
        description="A version's candidate catalog lets /v1/rank take candidate ids (docs/ranking.md).",
    )
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="<command>")
    catalog_cli.register(catalog_commands)  # build: offline, reads datasets
    app_catalog_cli.register(catalog_commands)  # publish: Redis
    retrain_cli.register(commands)
    _use_formatter(parser)  # one help style for every sub-command, whoever registered it
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("ctr-fm")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for warning in unknown_variables():
        print(f"ctr: warning: {warning}", file=sys.stderr)
    try:  # the offline jobs log like the server: JSON lines off a terminal (contract/logs.py)
        configure_logs(os.environ.get("CTR_LOG_LEVEL", "info"), os.environ.get("CTR_LOG_FORMAT", "auto"))
    except ValueError as exc:
        print(f"ctr: warning: CTR_LOG_LEVEL / CTR_LOG_FORMAT: {exc}; logging at info", file=sys.stderr)
        configure_logs("info", "auto")
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"ctr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`ctr rank ... | head`): not an error of ours. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again, and exit as a process killed by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"ctr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
