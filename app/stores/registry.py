"""A model name in Redis as a registry: its published versions, the active one, and the history of activations.

Activating is ``SET ctr:<model>:active`` + ``PUBLISH ctr:<model>:activations`` (replicas swap at once;
the ones that miss the message see the pointer at their next poll), logged with ``LPUSH`` to
``ctr:<model>:history`` (the newest ``HISTORY_LENGTH`` kept). ``ctr publish``, ``ctr models`` and the
nightly job all activate through :func:`activate`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from app.stores.redis_client import RedisClient, redis_errors
from app.stores.redis_keys import ModelKeys, check_name
from contract.registry import headline_metrics

HISTORY_LENGTH = 200


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    state: str  # active | previous | inactive | incomplete
    published_at: float
    created_at: str | None
    metrics: dict[str, Any]


async def activate(
    client: RedisClient, address: str, keys: ModelKeys, version: str, by: str, reason: str = ""
) -> str | None:
    """Point the model at ``version`` and tell the replicas; returns the version it replaced."""
    check_name("version", version)
    with redis_errors(address, f"activating {keys.model} version {version}"):
        previous = await client.get(keys.active)
        await client.set(keys.active, version.encode())
        await client.publish(keys.channel, version.encode())
        line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "version": version,
                "previous": previous.decode() if previous else None, "by": by, "reason": reason}  # fmt: skip
        if previous is None or previous.decode() != version:  # re-activating the active version changes nothing
            await client.lpush(keys.history, json.dumps(line).encode())
            await client.ltrim(keys.history, 0, HISTORY_LENGTH - 1)
    return previous.decode() if previous else None


async def set_shadow(client: RedisClient, address: str, keys: ModelKeys, version: str | None) -> None:
    """Name the shadow version (or remove it) and wake the replicas, as an activation does."""
    with redis_errors(address, f"setting the shadow of {keys.model}"):
        if version is None:
            await client.delete(keys.shadow)
        else:
            await client.set(keys.shadow, check_name("version", version).encode())
        await client.publish(keys.channel, b"shadow")


async def history(client: RedisClient, address: str, keys: ModelKeys) -> list[dict[str, Any]]:
    """Activations, oldest first."""
    with redis_errors(address, f"reading the history of {keys.model}"):
        raw = await client.lrange(keys.history, 0, -1)
    lines = []
    for item in reversed(raw):
        try:
            lines.append(json.loads(item))
        except ValueError:
            continue
    return lines


async def previous_version(client: RedisClient, address: str, keys: ModelKeys) -> str | None:
    """The version active before the current one (what a rollback switches to)."""
    with redis_errors(address, f"reading the active version of {keys.model}"):
        active = await client.get(keys.active)
    current = active.decode() if active else None
    for line in reversed(await history(client, address, keys)):
        if line.get("version") == current:
            return line.get("previous")
    return None


async def versions(client: RedisClient, address: str, keys: ModelKeys) -> list[PublishedVersion]:
    """Every published version, oldest first, with its state and the training run's headline metrics."""
    with redis_errors(address, f"listing the versions of {keys.model}"):
        published = await client.zrange(keys.versions, 0, -1, withscores=True)
        active = await client.get(keys.active)
        manifests = [await client.get(keys.version(v.decode(), 1).manifest) for v, _ in published]
    previous = await previous_version(client, address, keys)
    out = []
    for (raw_version, score), manifest in zip(published, manifests, strict=True):
        version = raw_version.decode()
        if manifest is None:
            out.append(PublishedVersion(version, "incomplete", score, None, {}))
            continue
        artifact = json.loads(manifest).get("artifact", {})
        state = "active" if active and version == active.decode() else "previous" if version == previous else "inactive"
        out.append(PublishedVersion(version, state, score, artifact.get("created_at"), headline_metrics(artifact)))
    return out
