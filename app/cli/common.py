"""What the operator commands share: settings from flags and ``CTR_*`` variables, refused with one message."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a command runs: `ctr --help` stays quick
    from app.settings import Settings


def settings_or_none(command: str, **overrides: Any) -> Settings | None:
    """Settings with the given flags (None values ignored) over the environment; None after printing why not."""
    from pydantic import ValidationError

    from app.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        print(f"ctr {command}: error: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        return None


def add_redis_target(parser: argparse.ArgumentParser) -> None:
    """The flags naming a Redis deployment (``--redis-url``, ``--cluster``), over ``CTR_REDIS_*``."""
    parser.add_argument("--redis-url", default=None, help="redis://host:port/db or rediss:// [CTR_REDIS_URL]")
    parser.add_argument("--cluster", action="store_true", default=None, help="Redis Cluster [CTR_REDIS_CLUSTER]")


def redis_settings_or_none(command: str, args: argparse.Namespace) -> Settings | None:
    """Settings with ``add_redis_target``'s flags over the environment; None after printing why not."""
    return settings_or_none(command, redis_url=args.redis_url, redis_cluster=args.cluster)
