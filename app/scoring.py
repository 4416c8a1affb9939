"""A loaded model: the artifact's encoder, an embedding store and the onnxruntime session.

One :class:`ScoringModel` is one model version; the server swaps the whole object, never its parts,
so a request is always encoded, gathered and scored by the same version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from app.settings import Settings
from app.store import EmbeddingStore, InMemoryStore
from contract.artifact import Artifact, load_artifact
from contract.encoding import EncodedBatch

log = logging.getLogger("app")


@dataclass(frozen=True)
class Scores:
    probabilities: np.ndarray  # (B,) float32
    logits: np.ndarray  # (B,) float32


class ScoringModel:
    def __init__(self, artifact: Artifact, store: EmbeddingStore, settings: Settings) -> None:
        self.artifact = artifact
        self.encoder = artifact.encoder
        self.store = store
        self.name = artifact.name
        self.version = artifact.version
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.ort_intra_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(artifact.onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    @classmethod
    def load(cls, settings: Settings) -> ScoringModel:
        """Load the configured artifact (verifying its checksums) with the configured store."""
        artifact = load_artifact(settings.model_dir, settings.model_version)
        model = cls(artifact, InMemoryStore(artifact.table), settings)
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
        ids = np.array([[f.offset for f in self.encoder.fields for _ in range(f.spec.slots)]] * 2, np.int64)
        scores = await self.score(EncodedBatch(ids, np.ones((2, n), np.float32)))
        if not np.isfinite(scores.probabilities).all():
            raise RuntimeError("warm-up produced non-finite scores")

    async def close(self) -> None:
        await self.store.close()
