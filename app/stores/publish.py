"""``ctr publish``: copy an artifact version into Redis, activate it, collect old versions.

Protocol (docs/redis.md)::

    1. ZADD NX ctr:<model>:versions <now> <version>      listed first, so a failed publish is still collected
    2. MSET per shard, pipelined in chunks               every feature row (hashed id -> packed float32)
    3. SET per shard row count, SET onnx, SET oov        counts, model.onnx and each field's OOV row
    4. read back the probe rows                          a sample spread over all shards
    4b. the artifact's current candidate catalog         app.stores.catalog: its files, then its pointer
    5. SET ctr:{<model>:<version>}:manifest              last: from now on the version is complete
    6. SET ctr:<model>:active <version>; PUBLISH         one atomic write flips every replica
    7. collect versions older than the newest ``keep``   never the active one

A publish that dies before step 5 leaves a version without a manifest, which replicas refuse and
the active pointer never names; running it again rewrites the same keys with the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.stores.catalog import publish_catalog_files
from app.stores.redis_client import RedisClient, redis_errors
from app.stores.redis_keys import ModelKeys, VersionKeys, check_name, pack_rows
from app.stores.registry import activate as activate_version
from contract.artifact import Artifact, load_artifact
from contract.hashing import HASH_MASK

log = logging.getLogger("app")

FORMAT = 1
DEFAULT_SHARDS = 32
DEFAULT_KEEP = 3
MIN_KEEP = 2  # replicas still serve the previous version for a moment after a flip: never delete it at once
PROBES = 64
MSET_KEYS = 1000  # keys per MSET command inside a pipeline


class PublishError(RuntimeError):
    """The artifact cannot be published (conflicting version, hash collision, bad arguments)."""


@dataclass(frozen=True)
class PublishResult:
    model: str
    version: str
    features: int
    bytes: int
    seconds: float
    skipped: bool  # the version was already complete in Redis
    activated: bool
    collected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Published:
    """A version's rows in the form Redis holds them."""

    features: np.ndarray  # (N,) hashed ids, OOV features excluded
    rows: np.ndarray  # (N, K+1) float32
    oov_rows: np.ndarray  # (F, K+1) float32, one per field in field order

    @classmethod
    def of(cls, artifact: Artifact) -> Published:
        encoder = artifact.encoder
        hashes = encoder.feature_hashes()
        keep = (hashes & HASH_MASK) != 0  # OOV features go to the version's OOV blob instead
        features = hashes[keep]
        unique, counts = np.unique(features, return_counts=True)
        if (counts > 1).any():
            h = unique[np.argmax(counts > 1)]
            a, b = np.flatnonzero(hashes == h)[:2]
            raise PublishError(
                f"features {encoder.feature_name(int(a))} and {encoder.feature_name(int(b))} hash to the same id; "
                "rename a value or the field"
            )
        oov_rows = artifact.table[[f.offset for f in encoder.fields]]
        return cls(features, artifact.table[keep], oov_rows)


def manifest_sha(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def probe_indices(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, PROBES)).astype(np.int64)) if n else np.empty(0, np.int64)


async def publish(
    client: RedisClient,
    address: str,
    artifact_path: str | Path,
    *,
    version: str | None = None,
    model: str | None = None,
    shards: int = DEFAULT_SHARDS,
    keep: int = DEFAULT_KEEP,
    activate: bool = True,
    chunk: int = 20_000,
    progress: bool = True,
) -> PublishResult:
    """Publish the artifact at ``artifact_path`` (a version or model directory) under ``model``."""
    if keep < MIN_KEEP:
        raise PublishError(f"keep must be >= {MIN_KEEP}: replicas may still read the previous version")
    if not 1 <= shards <= 16384:
        raise PublishError("shards must be between 1 and 16384")
    started = time.perf_counter()
    artifact = load_artifact(artifact_path, version, index=False)  # rows and vocabulary only: no value dicts
    model_keys = ModelKeys(check_name("model name", model or artifact.name))
    keys = model_keys.version(check_name("version", artifact.version), shards)
    published = Published.of(artifact)
    identity = manifest_sha(artifact.manifest)

    with redis_errors(address, f"publishing {model_keys.model} version {keys.version}"):
        existing = await client.get(keys.manifest)
        skipped = existing is not None and _same_artifact(existing, identity, keys)
        await client.zadd(model_keys.versions, {keys.version: time.time()}, nx=True)
        written = 0
        if not skipped:
            written = await _write_rows(client, keys, published, chunk, progress)
            await _write_counts(client, keys, published)
            onnx = artifact.onnx_path.read_bytes()
            oov = pack_rows(published.oov_rows)
            await client.set(keys.onnx, onnx)
            await client.set(keys.oov, oov)
            probe = await _check_probes(client, keys, published)
            catalog = await publish_catalog_files(client, keys, artifact)
            if catalog is not None:
                await client.set(keys.catalog, catalog.encode())
            manifest = _manifest(artifact, keys, published, identity, onnx, oov, probe)
            await client.set(keys.manifest, json.dumps(manifest).encode())
            written += len(onnx) + len(oov)
    if activate:
        await activate_version(client, address, model_keys, keys.version, by="publish")
    with redis_errors(address, f"collecting old versions of {model_keys.model}"):
        collected = await collect_garbage(client, model_keys, keep)
    return PublishResult(
        model=model_keys.model,
        version=keys.version,
        features=len(published.features),
        bytes=written,
        seconds=time.perf_counter() - started,
        skipped=skipped,
        activated=activate,
        collected=collected,
    )


def _same_artifact(existing: bytes, identity: str, keys: VersionKeys) -> bool:
    try:
        manifest = json.loads(existing)
        same = manifest["sha256"]["artifact_manifest"] == identity
        shards = manifest["shards"]
    except (ValueError, KeyError, TypeError):
        return False  # unreadable: rewrite the version
    if not same:
        raise PublishError(f"version {keys.version} is already published from a different artifact")
    if shards != keys.shards:
        raise PublishError(f"version {keys.version} is already published with {shards} shards, not {keys.shards}")
    return True


async def _write_rows(client: RedisClient, keys: VersionKeys, published: Published, chunk: int, progress: bool) -> int:
    """MSET every row, grouped by shard (one hash slot each), ``chunk`` keys per pipelined round trip.

    Key names and packed rows are made one chunk at a time: a version of millions of rows never has all
    its key strings in memory at once.
    """
    features = published.features
    shard = keys.shard_of(features)
    order = np.argsort(shard, kind="stable")
    row_bytes = published.rows.shape[1] * 4
    shard_sorted = shard[order]
    written = 0
    with tqdm(
        total=len(features), unit="row", desc=f"publish {keys.version}", disable=None if progress else True
    ) as bar:
        for start in range(0, len(features), chunk):
            stop = min(start + chunk, len(features))
            names = keys.features(features[order[start:stop]])
            blob = pack_rows(published.rows[order[start:stop]])
            pipe = client.pipeline(transaction=False)
            cuts = [0, *(np.flatnonzero(np.diff(shard_sorted[start:stop])) + 1).tolist(), stop - start]
            for lo, hi in itertools.pairwise(cuts):
                for a in range(lo, hi, MSET_KEYS):
                    b = min(a + MSET_KEYS, hi)
                    pairs = [x for i in range(a, b) for x in (names[i], blob[i * row_bytes : (i + 1) * row_bytes])]
                    pipe.execute_command("MSET", *pairs)  # pipe.mset() is blocked on clusters; one slot is fine
            await pipe.execute()
            written += len(blob)
            bar.update(stop - start)
    return written


async def _write_counts(client: RedisClient, keys: VersionKeys, published: Published) -> None:
    """Rows per shard, one key in each shard's slot (empty shards get 0: every shard key exists)."""
    counts = np.bincount(keys.shard_of(published.features), minlength=keys.shards)
    pipe = client.pipeline(transaction=False)
    for key, count in zip(keys.counts, counts.tolist(), strict=True):
        pipe.set(key, count)
    await pipe.execute()


async def _check_probes(client: RedisClient, keys: VersionKeys, published: Published) -> dict[str, Any]:
    """Read back a sample of rows spread over the version; replicas re-check the same sample."""
    idx = probe_indices(len(published.features))
    expected = pack_rows(published.rows[idx])
    pipe = client.pipeline(transaction=False)
    for key in keys.features(published.features[idx]):
        pipe.get(key)
    got = await pipe.execute()
    if any(v is None for v in got) or b"".join(got) != expected:
        raise PublishError(f"rows of version {keys.version} read back differ from those written")
    return {"features": [f"{f:016x}" for f in published.features[idx].tolist()],
            "sha256": hashlib.sha256(expected).hexdigest()}  # fmt: skip


def _manifest(
    artifact: Artifact,
    keys: VersionKeys,
    published: Published,
    identity: str,
    onnx: bytes,
    oov: bytes,
    probe: dict[str, Any],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": keys.model,
        "version": keys.version,
        "shards": keys.shards,
        "row_dtype": "<f4",
        "width": int(published.rows.shape[1]),
        "features": len(published.features),
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sha256": {
            "onnx": hashlib.sha256(onnx).hexdigest(),
            "oov": hashlib.sha256(oov).hexdigest(),
            "artifact_manifest": identity,
        },
        "probe": probe,
        "artifact": artifact.manifest,
    }


async def collect_garbage(client: RedisClient, model_keys: ModelKeys, keep: int) -> list[str]:
    """Delete every version but the newest ``keep`` (by first publish time) and the active one."""
    versions = [v.decode() for v in await client.zrange(model_keys.versions, 0, -1)]
    active = await client.get(model_keys.active)
    doomed = [v for v in versions[: max(0, len(versions) - keep)] if active is None or v != active.decode()]
    for version in doomed:
        await delete_version(client, model_keys, version)
        log.info("collected %s version %s", model_keys.model, version)
    return doomed


async def delete_version(client: RedisClient, model_keys: ModelKeys, version: str) -> int:
    """Remove a version: manifest and shard counts first (so nothing can activate or read it), then the rest."""
    keys = model_keys.version(version, 1)
    await client.delete(keys.manifest)
    deleted = 0
    for pattern in (keys.count_pattern, keys.feature_pattern, keys.catalog_pattern):
        batch: list[bytes] = []
        async for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await _unlink(client, batch)
                batch = []
        deleted += await _unlink(client, batch)
    await client.delete(keys.onnx)
    await client.delete(keys.oov)
    await client.delete(keys.catalog, keys.catalogs)
    await client.zrem(model_keys.versions, version)
    return deleted


async def _unlink(client: RedisClient, keys: list[bytes]) -> int:
    if not keys:
        return 0
    pipe = client.pipeline(transaction=False)
    for key in keys:  # one key per command: keys of different shards live in different cluster slots
        pipe.execute_command("UNLINK", key)  # pipe.unlink() is not a pipelined command on clusters
    return sum(await pipe.execute())
