"""Where a version's candidate catalog lives: its directory, or its Redis namespace (docs/ranking.md).

Both sources answer two questions: which generation is current (a small pointer, re-read on every
activation signal), and the verified :class:`~contract.catalog.Catalog` of a generation. In Redis a
generation is the same files as on disk (``contract.catalog_files``; ids in the hashed id space),
each in parts under the version's hash tag, with its manifest written last::

    1. ZADD NX ctr:{<model>:<version>}:catalogs <now> <gen>      listed first: a failed publish is still collected
    2. SET ctr:{<model>:<version>}:catalog:<gen>:<file>:<part>   every file, in parts of PART_BYTES
    3. SET ctr:{<model>:<version>}:catalog:<gen>:manifest        last: from now on the generation is complete
    4. SET ctr:{<model>:<version>}:catalog <gen>                 the pointer (``ctr publish``: before the version's
                                                                 own manifest; ``ctr catalog publish``: then PUBLISH)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from app.stores.redis_client import RedisClient, redis_errors
from app.stores.redis_keys import ModelKeys, VersionKeys
from contract.artifact import Artifact
from contract.catalog import Catalog, CatalogError
from contract.catalog_files import (
    KEEP,
    ModelIdentity,
    catalog_from_blobs,
    current_generation,
    read_blobs,
    to_hashed,
)

PART_BYTES = 16 << 20  # Redis strings may hold 512 MB; parts keep each command (and its buffer) small


class CatalogSource(Protocol):
    """Where one model version's catalog generations live."""

    async def generation(self) -> str | None:
        """The current generation, or None when the version has no catalog."""
        ...

    async def load(self, generation: str, model: ModelIdentity) -> Catalog:
        """The verified catalog of ``generation`` (raises :class:`CatalogError`)."""
        ...


class DirectoryCatalogs:
    """A version directory's ``catalog/`` (``contract.catalog_files``)."""

    def __init__(self, version_dir: Path) -> None:
        self.version_dir = version_dir

    async def generation(self) -> str | None:
        return current_generation(self.version_dir)  # one small file: inline (decision 18)

    async def load(self, generation: str, model: ModelIdentity) -> Catalog:
        manifest, blobs = await asyncio.to_thread(read_blobs, self.version_dir, generation)
        return await asyncio.to_thread(catalog_from_blobs, manifest, blobs, model)


class RedisCatalogs:
    """A published version's catalog in Redis (read by replicas)."""

    def __init__(self, client: RedisClient, keys: VersionKeys, address: str) -> None:
        self.client, self.keys, self.address = client, keys, address

    async def generation(self) -> str | None:
        with redis_errors(self.address, f"reading the catalog pointer of version {self.keys.version}"):
            raw = await self.client.get(self.keys.catalog)
        return None if raw is None else raw.decode()

    async def load(self, generation: str, model: ModelIdentity) -> Catalog:
        keys, where = self.keys, f"catalog {generation} of version {self.keys.version}"
        with redis_errors(self.address, f"reading {where}"):
            raw = await self.client.get(keys.catalog_manifest(generation))
            if raw is None:
                raise CatalogError(f"{where}: its manifest is not in Redis", "incomplete")
            try:
                stored = json.loads(raw)
                manifest, parts = stored["catalog"], stored["parts"]
                names = [(name, int(count)) for name, count in parts.items()]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CatalogError(f"{where}: unreadable manifest ({exc!r})") from exc
            pipe = self.client.pipeline(transaction=False)
            for name, count in names:
                for part in range(count):
                    pipe.get(keys.catalog_part(generation, name, part))
            replies = await pipe.execute()
        if any(reply is None for reply in replies):
            raise CatalogError(f"{where}: a part is missing from Redis", "incomplete")
        blobs, at = {}, 0
        for name, count in names:
            blobs[name], at = b"".join(replies[at : at + count]), at + count
        try:
            return await asyncio.to_thread(catalog_from_blobs, manifest, blobs, model)
        except KeyError as exc:
            raise CatalogError(f"{where}: file {exc} is missing", "incomplete") from exc


async def write_catalog(
    client: RedisClient, keys: VersionKeys, manifest: Mapping[str, Any], blobs: Mapping[str, bytes]
) -> str:
    """Steps 1-3 above for one generation (the pointer is the caller's); returns the generation."""
    generation = str(manifest["generation"])
    await client.zadd(keys.catalogs, {generation: time.time()}, nx=True)
    parts: dict[str, int] = {}
    for name, blob in blobs.items():
        chunks = [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
        parts[name] = len(chunks)
        for part, chunk in enumerate(chunks):
            await client.set(keys.catalog_part(generation, name, part), chunk)
    stored = {"catalog": dict(manifest), "parts": parts}
    await client.set(keys.catalog_manifest(generation), json.dumps(stored).encode())
    return generation


async def publish_catalog_files(
    client: RedisClient, keys: VersionKeys, artifact: Artifact, generation: str | None = None
) -> str | None:
    """Copy a generation of the artifact's catalog (default: its current one) into Redis, ids hashed.

    The files are verified against their manifest and the artifact first, so a corrupt catalog is
    never published. Returns the generation, or None when the artifact has no catalog.
    """
    generation = generation or current_generation(artifact.path)
    if generation is None:
        return None
    manifest, blobs = await asyncio.to_thread(read_blobs, artifact.path, generation)
    await asyncio.to_thread(catalog_from_blobs, manifest, blobs, artifact)
    manifest, blobs = await asyncio.to_thread(to_hashed, manifest, blobs, artifact.encoder)
    return await write_catalog(client, keys, manifest, blobs)


async def activate_catalog(client: RedisClient, model_keys: ModelKeys, keys: VersionKeys, generation: str) -> None:
    """Point the version at a complete generation and wake the replicas (they re-read the pointer)."""
    if await client.get(keys.catalog_manifest(generation)) is None:
        raise CatalogError(f"catalog {generation} of version {keys.version} is not complete in Redis")
    await client.set(keys.catalog, generation.encode())
    await client.publish(model_keys.channel, keys.version.encode())


async def collect_catalogs(client: RedisClient, keys: VersionKeys, keep: int = KEEP) -> list[str]:
    """Delete all but the newest ``keep`` generations of a version (never the current one)."""
    generations = [g.decode() for g in await client.zrange(keys.catalogs, 0, -1)]
    current = await client.get(keys.catalog)
    doomed = [g for g in generations[: max(0, len(generations) - keep)] if current is None or g != current.decode()]
    for generation in doomed:
        manifest = keys.catalog_manifest(generation)
        await client.delete(manifest)  # first: nothing can load it any more
        prefix = manifest.removesuffix(b"manifest")
        async for key in client.scan_iter(match=prefix + b"*", count=1000):
            await client.unlink(key)
        await client.zrem(keys.catalogs, generation)
    return doomed
