"""``ctr catalog publish``: copy a version's candidate catalog into Redis and make it the one replicas use."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli.common import add_redis_target, redis_settings_or_none


def register(catalog_commands: Any) -> None:
    p = catalog_commands.add_parser(
        "publish",
        help="copy a version's candidate catalog into Redis and switch replicas to it",
        description="Copy a catalog generation of a published version (default: the one the version directory's "
        "catalog/CURRENT names) into Redis under the version's namespace, verified and with ids in the hashed id "
        "space, its manifest last; then point the version's catalog pointer at it and notify the replicas, "
        "which load it and swap it in (docs/ranking.md). Older generations beyond --keep are deleted (never the "
        "current one). The version itself must already be in Redis (`ctr publish`, which also copies the "
        "catalog current at that time). Connection settings come from CTR_REDIS_*; see docs/redis.md.",
    )
    p.add_argument("artifact", help="a version directory, or a model directory (its ACTIVE, else newest)")
    p.add_argument("--version", default=None, help="version in a model directory")
    p.add_argument("--generation", default=None, help="catalog generation (default: the version's CURRENT)")
    p.add_argument("--model", default=None, help="model name in Redis; unset: the artifact's name")
    add_redis_target(p)
    p.add_argument("--keep", type=int, default=3, help="newest generations kept in Redis (the current one always)")
    p.set_defaults(run=run_publish, command="catalog publish")


def run_publish(args: argparse.Namespace) -> int:
    import asyncio

    from app.errors import StoreUnavailable
    from app.stores.catalog import activate_catalog, collect_catalogs, publish_catalog_files
    from app.stores.redis_client import connect, redis_errors
    from app.stores.redis_keys import ModelKeys
    from contract.artifact import load_artifact
    from contract.catalog import CatalogError

    settings = redis_settings_or_none("catalog publish", args)
    if settings is None:
        return 2
    if args.keep < 2:
        print("ctr catalog publish: error: --keep must be >= 2 (replicas may still read the previous one)",
              file=sys.stderr)  # fmt: skip
        return 2
    artifact = load_artifact(args.artifact, args.version)

    async def go() -> tuple[str | None, list[str]]:
        client = connect(settings)
        model_keys = ModelKeys(args.model or artifact.name)
        keys = model_keys.version(artifact.version, 1)  # catalog keys live in the version's metadata slot
        try:
            with redis_errors(settings.redis_address, f"publishing the catalog of {keys.model} {keys.version}"):
                if await client.get(keys.manifest) is None:
                    raise CatalogError(f"version {keys.version} of {keys.model} is not published in Redis "
                                       "(run `ctr publish` first)")  # fmt: skip
                generation = await publish_catalog_files(client, keys, artifact, args.generation)
                if generation is None:
                    return None, []
                await activate_catalog(client, model_keys, keys, generation)
                return generation, await collect_catalogs(client, keys, args.keep)
        finally:
            await client.aclose()

    try:
        generation, collected = asyncio.run(go())
    except StoreUnavailable as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        print(f"ctr catalog publish: error: {exc.detail}{cause}", file=sys.stderr)
        return 2
    if generation is None:
        print(f"ctr catalog publish: error: version {artifact.version} has no catalog (ctr catalog build)",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"catalog {generation} of {args.model or artifact.name} version {artifact.version} is current in Redis "
          f"at {settings.redis_address}")  # fmt: skip
    if collected:
        print(f"deleted old catalog generations: {', '.join(collected)}")
    return 0
