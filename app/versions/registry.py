"""The versions of a model, wherever they live (a model directory or Redis), for people and the nightly job.

``ctr models list|show|promote|rollback`` and ``ctr retrain`` work through :func:`open_registry`.
Switching checks a version exactly as a server does before it swaps it in — the same source
``load`` (sha256 of every file or blob, the scorer built and warmed up) — so a version a server
would refuse is refused here first, and the pointer does not move.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.metrics import Metrics
from app.settings import Settings
from app.stores import registry as redis_registry
from app.versions.directory import DirectorySource
from app.versions.redis_source import RedisSource
from app.versions.source import VersionRefused
from contract import registry as local_registry
from contract.artifact import MANIFEST, set_active


@dataclass(frozen=True)
class VersionRow:
    version: str
    state: str  # active | previous | inactive | incomplete
    created_at: str | None
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LocalRegistry:
    """A model directory: ``ACTIVE``, ``HISTORY.jsonl`` and the version directories."""

    def __init__(self, settings: Settings, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.where = str(model_dir)
        self.source = DirectorySource(settings, Metrics(), model_dir)

    async def versions(self) -> list[VersionRow]:
        return [
            VersionRow(v.version, v.state, v.created_at, v.metrics) for v in local_registry.versions(self.model_dir)
        ]

    async def manifest(self, version: str) -> dict[str, Any]:
        path = self.model_dir / version / MANIFEST
        if not path.is_file():
            raise VersionRefused(version, "missing", f"no such version under {self.model_dir}")
        return json.loads(path.read_text())

    async def history(self) -> list[dict[str, Any]]:
        return local_registry.history(self.model_dir)

    async def previous(self) -> str | None:
        return local_registry.previous_version(self.model_dir)

    async def check(self, version: str) -> None:
        model = await self.source.load(version)
        await model.close()

    async def activate(self, version: str, by: str, reason: str = "") -> str | None:
        return await asyncio.to_thread(set_active, self.model_dir, version, by, reason)

    async def shadow(self, version: str | None) -> None:
        await asyncio.to_thread(local_registry.set_shadow, self.model_dir, version)

    async def close(self) -> None:
        await self.source.close()


class RedisRegistry:
    """A model name in Redis (``CTR_REDIS_URL``): its published versions and ``ctr:<model>:active``."""

    def __init__(self, settings: Settings) -> None:
        self.source = RedisSource(settings, Metrics())
        self.client, self.keys, self.address = self.source.client, self.source.keys, self.source.address
        self.where = self.source.where

    async def versions(self) -> list[VersionRow]:
        published = await redis_registry.versions(self.client, self.address, self.keys)
        return [VersionRow(v.version, v.state, v.created_at, v.metrics) for v in published]

    async def manifest(self, version: str) -> dict[str, Any]:
        raw = await self.client.get(self.keys.version(version, 1).manifest)
        if raw is None:
            raise VersionRefused(version, "missing", f"not published under {self.where}")
        return json.loads(raw)["artifact"]

    async def history(self) -> list[dict[str, Any]]:
        return await redis_registry.history(self.client, self.address, self.keys)

    async def previous(self) -> str | None:
        return await redis_registry.previous_version(self.client, self.address, self.keys)

    async def check(self, version: str) -> None:
        model = await self.source.load(version)
        await model.close()

    async def activate(self, version: str, by: str, reason: str = "") -> str | None:
        return await redis_registry.activate(self.client, self.address, self.keys, version, by, reason)

    async def shadow(self, version: str | None) -> None:
        await redis_registry.set_shadow(self.client, self.address, self.keys, version)

    async def close(self) -> None:
        await self.source.close()


Registry = LocalRegistry | RedisRegistry


def open_registry(settings: Settings, model_dir: Path | None, redis: bool) -> Registry:
    """Redis (``redis=True``: ``CTR_REDIS_URL`` and ``CTR_REDIS_MODEL``) or a local model directory."""
    if redis:
        return RedisRegistry(settings)
    return LocalRegistry(settings, Path(model_dir or settings.model_dir))


async def promote(registry: Registry, version: str, by: str, reason: str = "") -> str | None:
    """Check ``version`` as a server would, then make it the active one; returns the version it replaced."""
    await registry.check(version)
    return await registry.activate(version, by, reason)


async def shadow(registry: Registry, version: str | None) -> None:
    """Have the servers score ``version`` beside the active one (checked first), or stop (None)."""
    if version is not None:
        await registry.check(version)
    await registry.shadow(version)


async def rollback(registry: Registry, reason: str = "") -> tuple[str, str | None]:
    """Switch back to the version active before the current one (checked first): (new, replaced)."""
    previous = await registry.previous()
    if previous is None:
        raise LookupError(f"no earlier active version in the history of {registry.where}: nothing to roll back to")
    return previous, await promote(registry, previous, "rollback", reason)
