"""Keeping a server on the active version: one path for both stores — check, load, warm, swap, drain.

At start-up, on every poll of the source's active pointer and on every notice from it, the
activation asks the source which version is active. A new one is loaded and warmed up *beside* the
served one; then ``state.model`` is replaced in one assignment, so a request (which takes the model
once, at its start) is scored by exactly one version, and new requests see the new one at once. The
old version is closed after ``CTR_DRAIN_SECONDS``, when the requests that hold it are done.

A version's candidate catalog (``app.versions.catalog``) is attached by the source's ``load``, so
both are checked and installed as one; a signal naming the version already served re-reads its
catalog pointer and swaps in a new generation.

A version that cannot be served (missing, incomplete, corrupt, incompatible) is *refused*: the
server keeps serving what it serves, counts ``ctr_model_activation_refusals_total{reason}``, logs it
once per version and reason, and tries again at the next poll. A source that cannot be read (Redis
down) likewise leaves the served version in place. With nothing served yet the server is not
ready, and a Redis server may serve a fallback artifact (``CTR_REDIS_FALLBACK_DIR``) meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from app.errors import StoreUnavailable
from app.scoring.model import ScoringModel
from app.state import ServerState
from app.versions.catalog import catalog_installed, refresh_catalog
from app.versions.source import VersionRefused, VersionSource

log = logging.getLogger("app")


class Activation:
    def __init__(self, state: ServerState, source: VersionSource, fallback: VersionSource | None = None) -> None:
        self.state, self.source, self.fallback = state, source, fallback
        self.serving: tuple[VersionSource, str] | None = None  # which source's version state.model is
        self._reported: tuple[str, str] | None = None  # (version, reason) last logged, so each is logged once
        self._shadow_refused: str | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._draining: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """First check (the server starts either way, ready or not), then the poller and the listener."""
        await self.check()
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self.source.listen(self._wake))]

    async def close(self, timeout: float = 10.0) -> None:
        """Stop watching and close what is open; bounded, so a store that hangs cannot hang a shutdown."""
        try:
            async with asyncio.timeout(timeout):
                await self._close()
        except TimeoutError:
            log.warning("closing the served versions took over %g s; leaving the rest to the process exit", timeout)

    async def _close(self) -> None:
        for task in [*self._tasks, *self._draining]:
            task.cancel()
        for task in [*self._tasks, *self._draining]:
            with suppress(asyncio.CancelledError):
                await task
        for model in (self.state.model, self.state.shadow):
            if model is not None:
                await model.close()
        for source in (self.source, self.fallback):
            if source is not None:
                await source.close()

    async def check(self) -> None:
        """Serve the source's active version if it is not the one served already and it passes the checks."""
        try:
            version = await self.source.active()
        except StoreUnavailable as exc:
            self._not_serving(exc.detail, exc)
            await self._try_fallback()
            return
        if version is None:
            self._not_serving("no active model version (publish or train one)")
            await self._try_fallback()
            return
        if self.serving != (self.source, version):
            try:
                model = await self.source.load(version)
            except VersionRefused as exc:
                self._refuse(exc)
                return
            except StoreUnavailable as exc:
                self._not_serving(exc.detail, exc)
                return
            self._install(model, self.source)
        else:
            await self._refresh_catalog()  # the same signal carries candidate catalog updates
        await self._check_shadow()

    async def _check_shadow(self) -> None:
        """Load the shadow version the source names beside the active one, or drop it (same checks)."""
        state = self.state
        try:
            wanted = await self.source.shadow()
        except StoreUnavailable:
            return  # keep the shadow as it is until the source answers
        current = state.shadow.version if state.shadow is not None else None
        if wanted == current or (wanted is not None and self._shadow_refused == wanted):
            return
        old = state.shadow
        if wanted is None:
            state.shadow = None
            log.info("shadow version %s dropped", current, extra={"event": "shadow", "version": None})
        else:
            try:
                state.shadow = await self.source.load(wanted)
            except (VersionRefused, StoreUnavailable) as exc:
                self._shadow_refused = wanted
                log.error("shadow version %s not loaded: %s", wanted, exc, extra={"event": "shadow_refused"})
                return
            self._shadow_refused = None
            log.info("shadow version %s scores beside %s", wanted, state.model.version if state.model else "none",
                     extra={"event": "shadow", "version": wanted})  # fmt: skip
        if old is not None:
            self._drain_later(old)

    async def _refresh_catalog(self) -> None:
        """Swap in a new catalog generation of the served version (a refused one keeps the current)."""
        model = self.state.model
        if model is None:
            return
        try:
            await refresh_catalog(model, self.state.metrics)
        except StoreUnavailable as exc:
            self._not_serving(exc.detail, exc)

    async def wait_for_version(self, version: str, timeout: float) -> bool:
        """Check now and until ``version`` is served or ``timeout`` passes (for `ctr models` and tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            await self.check()
            if self.serving is not None and self.serving[1] == version:
                return True
            await asyncio.sleep(0.05)
        return False

    def _install(self, model: ScoringModel, source: VersionSource) -> None:
        state, old = self.state, self.state.model
        state.model = model  # the swap: requests that already hold ``old`` finish with it
        state.not_ready_reason = ""
        self.serving, self._reported = (source, model.version), None
        state.metrics.set_model(model.name, model.version, model.trained_at)
        catalog_installed(model, state.metrics)
        state.metrics.activations.inc()
        previous = old.version if old is not None else None
        log.info("serving %s version %s from %s (was %s)", model.name, model.version, source.where, previous or "none",
                 extra={"event": "swap", "version": model.version, "previous": previous})  # fmt: skip
        if old is not None:
            self._drain_later(old)

    def _drain_later(self, old: ScoringModel) -> None:
        drain = asyncio.create_task(self._drain(old))
        self._draining.add(drain)
        drain.add_done_callback(self._draining.discard)

    async def _drain(self, old: ScoringModel) -> None:
        await asyncio.sleep(self.state.settings.drain_seconds)
        await old.close()
        log.debug("closed version %s after draining", old.version)

    async def _try_fallback(self) -> None:
        """Nothing served and the source unusable: serve the fallback artifact (Redis mode) meanwhile."""
        if self.fallback is None or self.state.model is not None:
            return
        try:
            version = await self.fallback.active()
            if version is None:
                raise VersionRefused("?", "missing", f"nothing to serve at {self.fallback.where}")
            model = await self.fallback.load(version)
        except (VersionRefused, StoreUnavailable) as exc:
            log.error("fallback %s not loaded: %s", self.fallback.where, exc)
            self.state.not_ready_reason += "; the fallback artifact could not be loaded either"
            return
        log.warning("serving the fallback %s until %s can be read", self.fallback.where, self.source.where)
        self._install(model, self.fallback)

    def _refuse(self, exc: VersionRefused) -> None:
        state = self.state
        if self._reported != (exc.version, exc.reason):
            self._reported = (exc.version, exc.reason)
            state.metrics.activation_refusals.labels(exc.reason).inc()
            state.metrics.model_load_failures.inc()
            current = state.model.version if state.model is not None else None
            log.error("%s: %s; %s", self.source.where, exc, f"keeping version {current}" if current else "not ready",
                      extra={"event": "refused", "version": exc.version, "reason": exc.reason})  # fmt: skip
        if state.model is None:
            state.not_ready_reason = f"the active model version was refused ({exc.reason})"

    def _not_serving(self, reason: str, exc: BaseException | None = None) -> None:
        """The source cannot tell which version to serve: keep what is served, or stay not ready."""
        state = self.state
        if self._reported != ("", reason):
            self._reported = ("", reason)
            cause = f" ({type(exc.__cause__).__name__})" if exc is not None and exc.__cause__ is not None else ""
            current = state.model.version if state.model is not None else None
            log.warning("%s%s (%s); %s, checking every %g s", reason, cause, self.source.where,
                        f"keeping version {current}" if current else "not ready", self.source.poll_seconds)  # fmt: skip
            if current is None:
                state.metrics.model_load_failures.inc()
        if state.model is None:
            state.not_ready_reason = f"{reason}; retrying every {self.source.poll_seconds:g} s"

    async def _poll(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.source.poll_seconds)
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # a bug here must not stop activations for the life of the process
                log.exception("checking the active version failed")
