"""Serving from Redis: read a published version, and keep the server on the active one.

A replica knows only the Redis address and the model name. At start-up, and whenever the active
pointer may have moved (a pub/sub message, or a poll every ``CTR_REDIS_POLL_SECONDS`` in case a
message was missed), it reads the version named by ``ctr:<model>:active``, checks it, builds a new
:class:`~app.scoring.model.ScoringModel` and swaps ``state.model`` in one assignment, so a request is
always served by one version. A version that is missing, incomplete or corrupt is refused: the
server keeps what it serves (logged once per version and reason, counted in
``ctr_model_activation_refusals_total{reason}``) and re-checks at the next poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from contextlib import suppress
from typing import Any

from app.errors import StoreUnavailable
from app.scoring.model import ScoringModel
from app.settings import Settings
from app.state import ServerState
from app.stores.publish import FORMAT
from app.stores.redis_client import RedisClient, connect, redis_errors
from app.stores.redis_keys import ModelKeys, unpack_rows
from app.stores.redis_store import RedisStore
from app.stores.row_cache import RowCache
from contract.encoding import FeatureEncoder

log = logging.getLogger("app")


class VersionRefused(Exception):
    """A published version cannot be served; ``reason`` is one of metrics.REFUSAL_REASONS."""

    def __init__(self, version: str, reason: str, detail: str) -> None:
        super().__init__(f"version {version} refused ({reason}): {detail}")
        self.version, self.reason, self.detail = version, reason, detail


async def read_version(
    client: RedisClient, settings: Settings, state: ServerState, model_keys: ModelKeys, version: str
) -> ScoringModel:
    """Read, check and warm up a published version (raises VersionRefused or StoreUnavailable)."""
    address, metrics = settings.redis_address, state.metrics
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
            settings=settings, metrics=state.metrics,
        )  # fmt: skip
        await model.warm_up()
    except StoreUnavailable:
        raise
    except Exception as exc:  # onnxruntime cannot load or run the graph on this build
        raise VersionRefused(version, "incompatible", f"the scorer does not load or run: {exc}") from exc
    return model


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


class RedisActivation:
    """Keeps ``state.model`` on the version Redis marks active; owns the Redis client."""

    def __init__(self, state: ServerState) -> None:
        settings = state.settings
        assert settings.redis_model is not None  # Settings refuses CTR_STORE=redis without it
        self.state = state
        self.settings = settings
        self.client = connect(settings)
        self.keys = ModelKeys(settings.redis_model)
        self.address = settings.redis_address
        self.serving: str | None = None  # version served from Redis (None: nothing, or the fallback)
        self._reported: tuple[str, str] | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """First attempt (the server starts either way), the fallback artifact, then the watchers."""
        await self.check()
        if self.state.model is None and self.settings.redis_fallback_dir is not None:
            await self._load_fallback()
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._listen())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()

    async def check(self) -> None:
        """Serve the active version if it is not the one served already and it passes the checks."""
        try:
            with redis_errors(self.address, "reading the active version", self.state.metrics):
                raw = await self.client.get(self.keys.active)
        except StoreUnavailable as exc:
            self._not_serving(exc.detail, exc)
            return
        if raw is None:
            self._not_serving(f"model {self.keys.model!r} has no active version in Redis at {self.address} "
                              "(publish one with `ctr publish`)")  # fmt: skip
            return
        version = raw.decode()
        if version == self.serving:
            return
        try:
            model = await read_version(self.client, self.settings, self.state, self.keys, version)
        except VersionRefused as exc:
            self._refuse(exc)
            return
        except StoreUnavailable as exc:
            self._not_serving(exc.detail, exc)
            return
        await self._install(model)

    async def _install(self, model: ScoringModel) -> None:
        old, state = self.state.model, self.state
        state.model = model  # the swap: requests that already hold ``old`` finish with it
        state.not_ready_reason = ""
        self.serving, self._reported = model.version, None
        state.metrics.set_model(model.name, model.version)
        state.metrics.activations.inc()
        log.info("serving %s version %s from Redis at %s", model.name, model.version, self.address)
        if old is not None:
            await old.close()

    def _refuse(self, exc: VersionRefused) -> None:
        if self._reported != (exc.version, exc.reason):
            self._reported = (exc.version, exc.reason)
            self.state.metrics.activation_refusals.labels(exc.reason).inc()
            current = self.state.model.version if self.state.model is not None else None
            log.error("active %s %s; %s", self.keys.model, exc,
                      f"keeping version {current}" if current else "not ready")  # fmt: skip
        if self.state.model is None:
            self.state.not_ready_reason = f"the active version of {self.keys.model!r} is unusable: {exc}"

    def _not_serving(self, reason: str, exc: BaseException | None = None) -> None:
        """Redis cannot tell which version to serve: keep what is served, or stay not ready."""
        if self._reported != ("", reason):
            self._reported = ("", reason)
            cause = f" ({type(exc.__cause__).__name__})" if exc is not None and exc.__cause__ is not None else ""
            current = self.state.model.version if self.state.model is not None else None
            keeping = f"keeping version {current}" if current else "not ready"
            log.warning("%s%s; %s, retrying every %g s", reason, cause, keeping, self.settings.redis_poll_seconds)
        if self.state.model is None:
            self.state.not_ready_reason = f"{reason}; retrying every {self.settings.redis_poll_seconds:g} s"

    async def _load_fallback(self) -> None:
        fallback = self.settings.redis_fallback_dir
        try:
            model = await asyncio.to_thread(ScoringModel.load, self.settings, fallback, self.state.metrics)
            await model.warm_up()
        except Exception as exc:
            log.error("fallback artifact %s not loaded: %s", fallback, exc)
            self.state.not_ready_reason += f"; fallback {fallback} not loaded: {exc}"
            return
        self.state.model = model
        self.state.not_ready_reason = ""
        self.state.metrics.set_model(model.name, model.version)
        log.warning("serving fallback artifact %s (version %s) until Redis can be read", fallback, model.version)

    async def _poll(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.redis_poll_seconds)
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # a bug here must not stop activations for the life of the process
                log.exception("checking the active version failed")

    async def _listen(self) -> None:
        """Wake the poller on every activation message; on any failure resubscribe after a poll period."""
        while True:
            pubsub = self.client.pubsub()
            try:
                with redis_errors(self.address, "listening for activations", self.state.metrics):
                    await pubsub.subscribe(self.keys.channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=self.settings.redis_poll_seconds
                        )
                        if message is not None:
                            self._wake.set()
            except StoreUnavailable:
                pass  # the poller reports Redis being away; it also covers the gap until we resubscribe
            finally:
                with suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self.settings.redis_poll_seconds)
