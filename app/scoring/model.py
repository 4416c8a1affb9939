"""A loaded model: an encoder, an embedding store and the onnxruntime session.

One :class:`ScoringModel` is one model version; the server swaps the whole object, never its parts,
so a request is always encoded, gathered and scored by the same version. It comes either from an
artifact directory (in-process store, vocabulary ids) or from Redis (``app.versions.activation``: Redis
store, hashed ids); everything after ``gather`` is the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.metrics import Metrics
from app.scoring.microbatch import MicroBatcher
from app.scoring.scorer import Scores, onnx_session
from app.settings import Settings
from app.stores.catalog import CatalogSource, DirectoryCatalogs
from app.stores.memory import EmbeddingStore, InMemoryStore
from contract.artifact import Artifact, load_artifact
from contract.catalog import Catalog
from contract.encoding import EncodedBatch, FeatureEncoder
from contract.memo import MemoEncoder

log = logging.getLogger("app")


class ScoringModel:
    def __init__(
        self,
        *,
        manifest: dict[str, Any],
        encoder: FeatureEncoder,
        store: EmbeddingStore,
        onnx_model: bytes | Path,
        settings: Settings,
        artifact: Artifact | None = None,
        metrics: Metrics | None = None,
        catalog_source: CatalogSource | None = None,
    ) -> None:
        self.manifest = manifest  # the artifact's manifest.json
        self.encoder = encoder
        # the event loop's encoder: same ids and values, memoised per raw value (contract/memo.py)
        self.fast_encoder = MemoEncoder(encoder, settings.encode_memo_entries)
        self.store = store
        self.artifact = artifact  # None when served from Redis: there is no table or vocabulary here
        self.name = str(manifest["name"])
        self.version = str(manifest["version"])
        self.trained_at = str(manifest.get("created_at") or "")  # ISO 8601, from the artifact's manifest
        self.field_names = tuple(f.spec.name for f in encoder.fields)  # labels of the per-field OOV counts
        self.bias = float(manifest["model"]["bias"])
        self.embedding_dim = int(manifest["model"]["embedding_dim"])
        self.session = onnx_session(onnx_model, settings.ort_intra_threads)
        # The candidate catalog of this version (/v1/rank by id): app.versions.catalog loads it before the
        # version is installed, and swaps a new generation in with one assignment of this attribute.
        self.catalog: Catalog | None = None
        self.catalog_source: CatalogSource | None = catalog_source
        self.batcher: MicroBatcher | None = None  # merges concurrent /v1/score runs (CTR_MICROBATCH_MAX_ROWS)
        if settings.microbatch_max_rows > 0:
            delay = settings.microbatch_max_delay_us / 1e6
            self.batcher = MicroBatcher(self.infer, settings.microbatch_max_rows, delay, metrics)

    @classmethod
    def from_artifact(cls, artifact: Artifact, settings: Settings, metrics: Metrics | None = None) -> ScoringModel:
        return cls(
            manifest=artifact.manifest,
            encoder=artifact.encoder,
            store=InMemoryStore(artifact.table),
            onnx_model=artifact.onnx_path,
            settings=settings,
            artifact=artifact,
            metrics=metrics,
            catalog_source=DirectoryCatalogs(artifact.path),
        )

    @classmethod
    def load(cls, settings: Settings, model_dir: Path | None = None, metrics: Metrics | None = None) -> ScoringModel:
        """Load the configured artifact (verifying its checksums) with the in-process store."""
        artifact = load_artifact(model_dir or settings.model_dir, None if model_dir else settings.model_version)
        model = cls.from_artifact(artifact, settings, metrics)
        log.info("loaded model %s version %s from %s", model.name, model.version, artifact.path)
        return model

    def infer(self, rows: np.ndarray, values: np.ndarray) -> Scores:
        """Run the ONNX scorer on gathered rows; synchronous, tens of µs for small batches."""
        probabilities, logits = self.session.run(None, {"rows": rows, "values": values})
        return Scores(probabilities, logits)

    async def score(self, batch: EncodedBatch) -> Scores:
        rows = await self.store.gather(batch.ids)
        return self.infer(rows, batch.values)

    async def warm_up(self) -> None:
        """Run every stage once so the first real request does not pay for lazy initialisation."""
        n = self.encoder.num_slots
        ids = np.array([[f.oov_id for f in self.encoder.fields for _ in range(f.spec.slots)]] * 2, np.int64)
        scores = await self.score(EncodedBatch(ids, np.ones((2, n), np.float32)))
        if not np.isfinite(scores.probabilities).all():
            raise RuntimeError("warm-up produced non-finite scores")

    async def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()  # queued requests are scored before the store goes
        await self.store.close()
