"""Versions from a model directory (the in-process store): ``ACTIVE`` names the one to serve.

The activation polls ``ACTIVE`` every ``CTR_MODEL_POLL_SECONDS`` (a read of a few bytes); there is no
notification, so a swap is seen within one poll. ``CTR_MODEL_VERSION`` pins a version (the pointer
is then ignored), and a ``CTR_MODEL_DIR`` that is itself a version directory serves just that one.
Loading verifies every file against the manifest's sha256 before anything is built.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.settings import Settings
from app.versions.catalog import with_catalog
from app.versions.source import VersionRefused
from contract.artifact import MANIFEST, ArtifactError, load_artifact, resolve_artifact
from contract.registry import shadow_version


class DirectorySource:
    def __init__(self, settings: Settings, metrics: Metrics, model_dir: Path | None = None, pinned: str | None = None):
        self.settings, self.metrics = settings, metrics
        self.model_dir = Path(model_dir or settings.model_dir)
        self.pinned = pinned
        self.where = str(self.model_dir)
        self.poll_seconds = settings.model_poll_seconds

    async def active(self) -> str | None:
        return await asyncio.to_thread(self._active)

    def _active(self) -> str | None:
        if (self.model_dir / MANIFEST).is_file():
            return self.model_dir.name  # a version directory: that version, always
        if self.pinned is not None:
            return self.pinned
        try:
            return resolve_artifact(self.model_dir).name  # ACTIVE, else the newest complete version
        except ArtifactError:
            return None

    async def shadow(self) -> str | None:
        if self.pinned is not None or (self.model_dir / MANIFEST).is_file():
            return None
        return await asyncio.to_thread(shadow_version, self.model_dir)

    async def load(self, version: str) -> ScoringModel:
        root = self.model_dir.parent if (self.model_dir / MANIFEST).is_file() else self.model_dir
        try:
            artifact = await asyncio.to_thread(load_artifact, root, version)  # sha256 of every file: ms, off the loop
        except ArtifactError as exc:
            raise VersionRefused(version, exc.reason, str(exc)) from exc
        try:
            model = await asyncio.to_thread(ScoringModel.from_artifact, artifact, self.settings, self.metrics)
            await model.warm_up()
        except Exception as exc:  # onnxruntime cannot load or run the graph, or it scores non-finite numbers
            raise VersionRefused(version, "incompatible", f"the scorer does not load or run: {exc}") from exc
        return await with_catalog(model, self.metrics)  # version and candidate catalog are checked as one

    async def listen(self, wake: asyncio.Event) -> None:
        return None  # a directory sends no notices: polling it is cheap

    async def close(self) -> None:
        return None
