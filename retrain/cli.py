"""``ctr retrain``: argument parsing only; torch is imported when the command runs."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

EXIT_HELP = "exit codes: 0 promoted, 3 rejected by the gate, 1 failed, 4 another run holds the lock, 2 bad config"


def register(commands: Any) -> None:
    p = commands.add_parser(
        "retrain",
        help="the nightly job: train on recent days, promote through the gate (for cron / a CronJob)",
        description="Train a candidate on a window of daily partitions, evaluate it and the active model on the "
        "same most recent holdout days, and promote it only if it passes the gate (AUC, log loss, calibration); "
        "then export it, publish it to Redis when configured, and move the active pointer(s). A run report "
        "is printed and written to <models_dir>/<model>/runs/, and the outcome is sent to a Pushgateway or a "
        "textfile for Prometheus. Everything is set in the config file; docs/operations.md explains it all.",
        epilog=EXIT_HELP,
    )
    p.add_argument("--config", required=True, help="retrain.toml (see deploy/retrain.toml)")
    p.add_argument("--date", default=None, help="the run's date, YYYY-MM-DD (default: today, UTC); the data "
                   "used ends the day before")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from retrain.config import ConfigError, load_config

    try:
        config = load_config(args.config)
        run_date = dt.date.fromisoformat(args.date) if args.date else dt.datetime.now(dt.UTC).date()
    except ConfigError as exc:
        print(f"ctr retrain: error: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"ctr retrain: error: --date {args.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        from retrain.job import Locked
        from retrain.job import run as run_job
        from retrain.outcome import EXIT_CODES
    except ImportError as exc:
        print(f"ctr retrain needs the training extra (pip install -e '.[train]'): {exc}", file=sys.stderr)
        return 2
    try:
        report = run_job(config, run_date, progress=not args.quiet)
    except Locked as exc:
        print(f"ctr retrain: refused: {exc}", file=sys.stderr)
        return 4
    print(report.summary())
    return EXIT_CODES[report.outcome]
