"""``python -m training.stream <command> ...`` = ``ctr stream <command> ...``: the entry point that
``torchrun -m training.stream train ...`` starts in every process."""

from __future__ import annotations

import sys

from cli import main

if __name__ == "__main__":
    sys.exit(main(["stream", *sys.argv[1:]]))
