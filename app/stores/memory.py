"""Embedding stores: where the scorer's table rows come from.

A store maps feature ids (B, M) to rows (B, M, K+1) = [linear weight, embedding]. The
in-process store holds the artifact's table in memory (the default); the Redis store
(``app.stores.redis_store``, with an in-process cache) serves deployments that share one table between replicas.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class EmbeddingStore(Protocol):
    async def gather(self, ids: np.ndarray) -> np.ndarray:
        """Rows (B, M, K+1) float32 for feature ids (B, M) of the model's encoder's id space.

        A store keyed by hashed ids sets, in place, the ids of features it holds no row for to 0
        (the OOV id of the hashed space), after giving them their field's OOV row.
        """
        ...

    async def close(self) -> None: ...


class InMemoryStore:
    """The artifact's table as one contiguous float32 array; a gather is one numpy ``take``."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.float32)

    async def gather(self, ids: np.ndarray) -> np.ndarray:
        return self.table.take(ids, axis=0)

    async def close(self) -> None:
        return None
