"""Versions from Redis: read a published version, check it against its manifest, build its store.

A replica knows only the Redis address and the model name. ``ctr:<model>:active`` names the version
to serve; a message on ``ctr:<model>:activations`` says it moved (``listen``), and the activation also
polls every ``CTR_REDIS_POLL_SECONDS`` in case a message was missed. A version that is missing,
incomplete or corrupt is refused before anything is swapped (docs/redis.md has the protocol).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from contextlib import suppress
from typing import Any

from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.settings import Settings
from app.stores.catalog import RedisCatalogs
from app.stores.publish import FORMAT
from app.stores.redis_client import RedisClient, connect, redis_errors
from app.stores.redis_keys import ModelKeys, unpack_rows
from app.stores.redis_store import RedisStore
from app.stores.row_cache import RowCache
from app.versions.catalog import with_catalog
from app.versions.source import VersionRefused
from contract.encoding import FeatureEncoder


class RedisSource:
    """The versions of one model name in Redis; owns the Redis client of the server."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        assert settings.redis_model is not None  # Settings refuses CTR_STORE=redis without it
        self.settings, self.metrics = settings, metrics
        self.client = connect(settings)
        self.keys = ModelKeys(settings.redis_model)
        self.address = settings.redis_address
        self.where = f"Redis at {self.address}, model {self.keys.model}"
        self.poll_seconds = settings.redis_poll_seconds

    async def active(self) -> str | None:
        with redis_errors(self.address, "reading the active version", self.metrics):
            raw = await self.client.get(self.keys.active)
        return None if raw is None else raw.decode()

    async def shadow(self) -> str | None:
        with redis_errors(self.address, "reading the shadow version", self.metrics):
            raw = await self.client.get(self.keys.shadow)
        return None if raw is None else raw.decode()

    async def load(self, version: str) -> ScoringModel:
        return await read_version(self.client, self.settings, self.metrics, self.keys, version)

    async def listen(self, wake: asyncio.Event) -> None:
        """Wake the poller on every activation message; on any failure resubscribe after a poll period."""
        while True:
            pubsub = self.client.pubsub()
            try:
                with redis_errors(self.address, "listening for activations", self.metrics):
                    await pubsub.subscribe(self.keys.channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=self.settings.redis_poll_seconds
                        )
                        if message is not None:
                            wake.set()
            except StoreUnavailable:
                pass  # the poller reports Redis being away; it also covers the gap until we resubscribe
            finally:
                with suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self.settings.redis_poll_seconds)

    async def close(self) -> None:
        await self.client.aclose()


async def read_version(
    client: RedisClient, settings: Settings, metrics: Metrics, model_keys: ModelKeys, version: str
) -> ScoringModel:
    """Read, check and warm up a published version (raises VersionRefused or StoreUnavailable)."""
    address = settings.redis_address
    meta = model_keys.version(version, 1)  # metadata keys do not depend on the shard count
    with redis_errors(address, f"reading version {version}", metrics):
        raw = await client.get(meta.manifest)
        if raw is None:
            partial = await client.exists(meta.onnx) or await client.zscore(model_keys.versions, version) is not None
            raise VersionRefused(version, "incomplete" if partial else "missing", "its manifest is not in Redis")
        manifest = _parse_manifest(version, raw)
        keys = model_keys.version(version, int(manifest["shards"]))
        onnx = await client.get(keys.onnx)
        oov = await client.get(keys.oov)
        pipe = client.pipeline(transaction=False)
        for key in keys.counts:
            pipe.get(key)
        for feature in manifest["probe"]["features"]:
            pipe.get(keys.feature(int(feature, 16)))
        replies = await pipe.execute()
    counts, probes = replies[: keys.shards], replies[keys.shards :]
    if onnx is None or oov is None or any(v is None for v in replies):
        raise VersionRefused(version, "incomplete", "model.onnx, OOV rows, shard counts or sampled rows are missing")
    if sum(int(c) if c.isdigit() else -1 for c in counts) != int(manifest["features"]):
        raise VersionRefused(version, "corrupt", "its shard row counts do not add up to the manifest's")
    _check_sha(version, "model.onnx", onnx, manifest["sha256"]["onnx"])
    _check_sha(version, "OOV rows", oov, manifest["sha256"]["oov"])
    _check_sha(version, "sampled feature rows", b"".join(probes), manifest["probe"]["sha256"])
    try:
        encoder = FeatureEncoder.from_layout(manifest["artifact"]["features"], None)
        oov_rows = unpack_rows(oov, int(manifest["width"]))
        if oov_rows.shape[0] != len(encoder.fields):
            raise ValueError(f"{oov_rows.shape[0]} OOV rows for {len(encoder.fields)} fields")
    except (KeyError, TypeError, ValueError) as exc:
        raise VersionRefused(version, "corrupt", f"unusable layout: {exc}") from exc
    store = RedisStore(
        client,
        keys,
        oov_rows,
        RowCache.sized(settings.redis_cache_entries, settings.redis_cache_mb, int(manifest["width"])),
        metrics,
        address=address,
        timeout_ms=settings.redis_timeout_ms,
        cluster=settings.redis_cluster,
        offload_ids=settings.offload_rows * encoder.num_slots,
    )
    try:
        model = await asyncio.to_thread(  # building an onnxruntime session takes milliseconds
            ScoringModel, manifest=manifest["artifact"], encoder=encoder, store=store, onnx_model=onnx,
            settings=settings, metrics=metrics, catalog_source=RedisCatalogs(client, keys, address),
        )  # fmt: skip
        await model.warm_up()
    except StoreUnavailable:
        raise
    except Exception as exc:  # onnxruntime cannot load or run the graph on this build
        raise VersionRefused(version, "incompatible", f"the scorer does not load or run: {exc}") from exc
    return await with_catalog(model, metrics)  # version and candidate catalog are checked as one


def _parse_manifest(version: str, raw: bytes) -> dict[str, Any]:
    """The manifest, with the types every later step relies on checked (else: refused as corrupt)."""
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
        if manifest.get("format") != FORMAT:
            raise VersionRefused(version, "incompatible", f"manifest format {manifest.get('format')!r} != {FORMAT}")
        if int(manifest["shards"]) < 1 or int(manifest["width"]) < 2 or int(manifest["features"]) < 0:
            raise ValueError("shards, width or features out of range")
        for feature in manifest["probe"]["features"]:
            int(feature, 16)
        for digest in (manifest["probe"]["sha256"], manifest["sha256"]["onnx"], manifest["sha256"]["oov"]):
            if not isinstance(digest, str):
                raise ValueError("sha256 values must be strings")
        if not isinstance(manifest["artifact"], dict):
            raise ValueError("artifact must be an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise VersionRefused(version, "corrupt", f"unreadable manifest: {exc!r}") from exc
    return manifest


def _check_sha(version: str, what: str, data: bytes, expected: str) -> None:
    if hashlib.sha256(data).hexdigest() != expected:
        raise VersionRefused(version, "corrupt", f"{what} do not match the sha256 in the manifest")
