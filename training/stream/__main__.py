"""``python -m training.stream <command>``: the entry point ``torchrun -m training.stream train ...`` starts."""

from __future__ import annotations

import argparse
import sys

from training.stream.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    from cli import USER_ERRORS

    parser = argparse.ArgumentParser(prog="python -m training.stream", description=__doc__)
    add_commands(parser.add_subparsers(dest="stream_command", required=True, metavar="<command>"))
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except USER_ERRORS as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
