"""``ctr publish``: copy a model version into Redis and make it the active one (docs/redis.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import add_redis_target, redis_settings_or_none


def register(commands: Any) -> None:
    publish = commands.add_parser(
        "publish",
        help="copy a model version into Redis and make it the active one",
        description="Write every feature row of an artifact version to Redis (packed float32 under a versioned "
        "namespace, pipelined, with a progress bar), then its model.onnx and manifest (last), then flip the "
        "model's active pointer and notify the servers; versions older than the newest --keep are deleted "
        "(never the active one). Re-running a failed or finished publish is safe. Connection settings come "
        "from CTR_REDIS_* (CTR_REDIS_PASSWORD, CTR_REDIS_USERNAME, CTR_REDIS_TLS_*); see docs/redis.md.",
    )
    publish.add_argument("artifact", help="a version directory, or a model directory (its ACTIVE, else newest)")
    publish.add_argument("--version", default=None, help="version to publish from a model directory")
    publish.add_argument("--model", default=None, help="model name in Redis; unset: the artifact's name")
    add_redis_target(publish)
    publish.add_argument("--shards", type=int, default=32, help="feature shards (hash tags) of the version")
    publish.add_argument("--keep", type=int, default=3, help="newest versions kept (>= 2; the active one always)")
    publish.add_argument("--no-activate", dest="activate", action="store_false", help="publish without activating")
    publish.add_argument("--chunk", type=int, default=20_000, help="rows per pipelined round trip")
    publish.add_argument("--quiet", action="store_true", help="no progress bar")
    publish.set_defaults(run=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    import asyncio

    from app.errors import StoreUnavailable
    from app.stores.publish import PublishError, publish
    from app.stores.redis_client import connect

    settings = redis_settings_or_none("publish", args)
    if settings is None:
        return 2

    async def go() -> Any:
        client = connect(settings)
        try:
            return await publish(
                client, settings.redis_address, args.artifact, version=args.version, model=args.model,
                shards=args.shards, keep=args.keep, activate=args.activate, chunk=args.chunk,
                progress=not args.quiet,
            )  # fmt: skip
        finally:
            await client.aclose()

    try:
        result = asyncio.run(go())
    except (StoreUnavailable, PublishError, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc)
        if isinstance(exc, StoreUnavailable):
            detail += f" (Redis at {settings.redis_address})"
        cause = f" ({exc.__cause__})" if isinstance(exc, StoreUnavailable) and exc.__cause__ else ""
        print(f"ctr publish: error: {detail}{cause}", file=sys.stderr)
        return 2
    state = "already complete" if result.skipped else f"{result.features} rows, {result.bytes / 2**20:.1f} MiB"
    print(f"published {result.model} version {result.version} to {settings.redis_address}: {state} "
          f"in {result.seconds:.1f} s")  # fmt: skip
    if result.activated:
        print(f"active version of {result.model}: {result.version}")
    if result.collected:
        print(f"deleted old versions: {', '.join(result.collected)}")
    return 0
