"""Where model versions come from: the one interface both stores implement for ``app.versions.activation``.

A source names the active version and builds a checked, warmed :class:`~app.scoring.model.ScoringModel`
for a version; everything else — when to look, the swap, the drain, refusals, metrics and logs — is
the activation's, and the same for both stores. Sources: a model directory (``directory``, the
in-process store) and Redis (``redis_source``).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from app.scoring.model import ScoringModel


class VersionRefused(Exception):
    """A version cannot be served; ``reason`` is one of ``contract.artifact.REASONS``."""

    def __init__(self, version: str, reason: str, detail: str) -> None:
        super().__init__(f"version {version} refused ({reason}): {detail}")
        self.version, self.reason, self.detail = version, reason, detail


class VersionSource(Protocol):
    where: str  # for logs, e.g. "models/ml100k" or "Redis at 10.0.0.5:6379, model ml100k" (never for clients)
    poll_seconds: float  # how often the activation re-reads the active pointer

    async def active(self) -> str | None:
        """The version to serve, or None when there is none (may raise StoreUnavailable)."""
        ...

    async def shadow(self) -> str | None:
        """The version to score beside the active one (``ctr models shadow``), or None."""
        ...

    async def load(self, version: str) -> ScoringModel:
        """The version checked, built and warmed up (raises VersionRefused or StoreUnavailable)."""
        ...

    async def listen(self, wake: asyncio.Event) -> None:
        """Set ``wake`` whenever the active pointer may have moved; return at once if there are no notices."""
        ...

    async def close(self) -> None: ...
