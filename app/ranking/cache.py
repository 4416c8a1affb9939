"""Per-model-version cache of candidate terms, keyed by the candidate's own JSON (decision 24).

In a recommender the same catalogue items are ranked again and again, and an item's candidate fields
do not change between requests. Everything /v1/rank computes for a candidate alone — its encoded
slots, ``lin(i) + pair(i)`` and S_i — depends only on those fields and the model, so it is kept
here. A hit costs one ``orjson.dumps`` of the candidate's object and one dict lookup (well under a
µs); the candidate is then neither validated, encoded, gathered from the store nor reduced again.

The key is the candidate's JSON as re-serialised by orjson (key order included): equal objects
written in another key order are merely two entries. Cached candidates passed validation when they
were first seen, and validation depends only on the candidate and the model.

Capacity is bounded (``CTR_RANK_CACHE_SIZE`` entries, 0 disables the cache). When it is full the
cache is emptied and refills from the next requests: simple, O(1), and for a catalogue smaller than
the capacity it never happens. One cache belongs to one model version and goes away with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np
import orjson


class CandidateCache:
    def __init__(self, capacity: int, slots: int, dim: int) -> None:
        self.capacity = capacity
        self.index: dict[bytes, int] = {}
        # np.empty reserves address space; pages are touched only as entries are written.
        self.ids = np.empty((capacity, slots), np.int64)
        self.values = np.empty((capacity, slots), np.float32)
        self.own = np.empty(capacity, np.float64)  # lin(i) + pair(i)
        self.sums = np.empty((capacity, dim), np.float64)  # S_i
        self.hits = 0
        self.misses = 0
        self.resets = 0

    def __len__(self) -> int:
        return len(self.index)

    def lookup(self, candidates: Sequence[Any]) -> np.ndarray:
        """Entry number per candidate (n,) int64, -1 for a miss."""
        if not self.capacity:
            return np.full(len(candidates), -1, np.int64)
        # map() keeps the loop in C; each key is freed at once, so its buffer is reused (see insert).
        keys = map(orjson.dumps, candidates)
        entries = np.fromiter(map(self.index.get, keys, repeat(-1)), np.int64, len(candidates))
        hits = int(np.count_nonzero(entries >= 0))
        self.hits += hits
        self.misses += len(candidates) - hits
        return entries

    def copy(self, entries: np.ndarray, with_encoded: bool) -> tuple[np.ndarray, ...]:
        """Copies of ``own`` (n,), ``sums`` (n, K) and, if asked, ``ids``/``values`` (n, Mi) of entries.

        Rows of misses (-1) hold garbage for the caller to overwrite. Callers copy before any await,
        because a concurrent request may empty and refill the cache.
        """
        n = len(entries)
        if not self.capacity:
            dim, slots = self.sums.shape[1], self.ids.shape[1]
            own, sums = np.empty(n), np.empty((n, dim))
            ids, values = np.zeros((n, slots), np.int64), np.zeros((n, slots), np.float32)
            return own, sums, ids, values
        own, sums = self.own.take(entries), self.sums.take(entries, axis=0)
        if with_encoded:
            return own, sums, self.ids.take(entries, axis=0), self.values.take(entries, axis=0)
        return own, sums, np.zeros((n, self.ids.shape[1]), np.int64), np.zeros((n, self.ids.shape[1]), np.float32)

    def insert(
        self, candidates: Sequence[Any], ids: np.ndarray, values: np.ndarray, own: np.ndarray, sums: np.ndarray
    ) -> None:
        """Remember freshly computed candidates (rows of ``ids``/``values``/``own``/``sums`` in order)."""
        n = min(len(candidates), self.capacity)
        if not n:
            return
        if len(self.index) + n > self.capacity:
            self.index.clear()
            self.resets += 1
        index, dumps = self.index, orjson.dumps
        # orjson returns its whole working buffer (~4 KB) as the bytes object: a stored key is copied to
        # its exact size, or 50,000 entries would hold ~200 MB.
        entries = np.fromiter(
            (index.setdefault(memoryview(dumps(c)).tobytes(), len(index)) for c in candidates[:n]), np.int64, n
        )
        self.ids[entries] = ids[:n]
        self.values[entries] = values[:n]
        self.own[entries] = own[:n]
        self.sums[entries] = sums[:n]
