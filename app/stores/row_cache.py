"""A bounded in-process cache of table rows keyed by hashed feature id (one per model version).

Rows live in one slab, ``(capacity, width)`` float32 allocated with ``np.empty`` (the OS maps pages
only as rows arrive), indexed by a dict ``feature id -> slot``. Reading many rows is one numpy take,
and memory is bounded by construction: no per-entry objects besides the dict's.

Eviction is CLOCK with new entries inserted *unreferenced*: a hit sets the slot's reference bit
(vectorised), the hand gives referenced slots a second chance and evicts the first unreferenced
ones. A feature seen once (a scan over many cold items) is evicted before anything hit twice, which
a plain LRU does not do, at the cost of an array write per hit instead of a linked-list move.

Features the store holds no row for are cached too, flagged ``absent``: a version never changes
once published, so an unseen value costs one Redis round trip per cache lifetime, not one per
request. Everything here runs on the event loop thread and never awaits.
"""

from __future__ import annotations

import numpy as np

_UNREF, _REF, _CLAIMED = 0, 1, 2


class RowCache:
    def __init__(self, capacity: int, width: int) -> None:
        self.capacity = max(0, int(capacity))
        self.width = width
        self.row_bytes = width * np.dtype(np.float32).itemsize
        self._rows = np.empty((self.capacity, width), dtype=np.float32)
        self._features = np.zeros(self.capacity, dtype=np.int64)
        self._absent = np.zeros(self.capacity, dtype=bool)
        self._ref = np.zeros(self.capacity, dtype=np.uint8)
        self._index: dict[int, int] = {}
        self._used = 0  # slots ever filled; the slab fills front to back before anything is evicted
        self._hand = 0

    @classmethod
    def sized(cls, max_entries: int, max_mb: float, width: int) -> RowCache:
        """A cache holding at most ``max_entries`` rows and ``max_mb`` MiB of row data."""
        row_bytes = width * np.dtype(np.float32).itemsize
        return cls(min(max_entries, int(max_mb * 2**20) // row_bytes), width)

    @property
    def entries(self) -> int:
        return len(self._index)

    @property
    def nbytes(self) -> int:
        """Bytes of row data held (the slab's filled part)."""
        return len(self._index) * self.row_bytes

    def lookup(self, features: np.ndarray) -> np.ndarray:
        """Slot of each feature id, -1 when not cached; hits are marked referenced."""
        if not self._index:
            return np.full(len(features), -1, dtype=np.int64)
        get = self._index.get
        slots = np.fromiter((get(f, -1) for f in features.tolist()), dtype=np.int64, count=len(features))
        self._ref[slots[slots >= 0]] = _REF
        return slots

    def rows_if_all_cached(
        self, ids: np.ndarray, known_absent: frozenset[int] = frozenset()
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows (*ids.shape, width) and absent flags (*ids.shape) when every id is cached, else None.

        The common case of a warm server (a small request whose features were all seen), in one
        dict pass and one take: no distinct ids. ``known_absent`` ids (e.g. the fields' OOV ids,
        which are never stored) count as cached and absent. Rows of absent features are
        meaningless: the caller substitutes its OOV rows. Hits are marked referenced.
        """
        if not self.capacity:
            return None
        get = self._index.get
        slots = [-1 if f in known_absent else get(f) for f in ids.reshape(-1).tolist()]
        if not slots or None in slots:
            return None
        at = np.array(slots, dtype=np.intp)
        known = at < 0
        at[known] = 0  # any slot: the caller replaces these rows
        self._ref[at[~known]] = _REF
        absent = self._absent[at] | known
        return self._rows.take(at, axis=0).reshape(*ids.shape, self.width), absent.reshape(ids.shape)

    def rows(self, slots: np.ndarray) -> np.ndarray:
        """(n, width) copy of the rows in ``slots`` (all cached)."""
        return self._rows.take(slots, axis=0)

    def absent(self, slots: np.ndarray) -> np.ndarray:
        """Whether each of ``slots`` records a feature the store has no row for."""
        return self._absent[slots]

    def put(self, features: np.ndarray, rows: np.ndarray, absent: np.ndarray) -> None:
        """Cache ``rows`` (n, width) of distinct ``features``; rows of ``absent`` features are ignored.

        Features cached meanwhile (by a concurrent request) are skipped; beyond ``capacity`` new
        features, the rest are not cached.
        """
        if self.capacity == 0 or len(features) == 0:
            return
        index = self._index
        new = np.fromiter((f not in index for f in features.tolist()), dtype=bool, count=len(features))
        if not new.all():
            features, rows, absent = features[new], rows[new], absent[new]
        n = min(len(features), self.capacity)
        if n == 0:
            return
        features, rows, absent = features[:n], rows[:n], absent[:n]
        slots = self._claim(n)
        self._features[slots] = features
        self._rows[slots] = rows
        self._absent[slots] = absent
        self._ref[slots] = _UNREF
        index.update(zip(features.tolist(), slots.tolist(), strict=True))

    def clear(self) -> None:
        self._index.clear()
        self._used = self._hand = 0
        self._ref[:] = _UNREF

    def _claim(self, n: int) -> np.ndarray:
        """``n`` distinct slots to (re)fill: never-used ones first, then CLOCK victims (unindexed here)."""
        fresh = min(n, self.capacity - self._used)
        claimed = [np.arange(self._used, self._used + fresh)]
        self._used += fresh
        need = n - fresh
        while need:
            window = self._ref[self._hand : min(self._hand + max(4 * need, 64), self.capacity)]
            victims = np.flatnonzero(window == _UNREF)[:need]
            stop = int(victims[-1]) + 1 if len(victims) == need else len(window)
            swept = window[:stop]
            swept[swept == _REF] = _UNREF  # second chance
            swept[victims] = _CLAIMED  # never picked twice, even when the hand wraps around
            claimed.append(self._hand + victims)
            need -= len(victims)
            self._hand = (self._hand + stop) % self.capacity
        slots = np.concatenate(claimed)
        evicted = slots[fresh:]
        if len(evicted):
            index = self._index
            for feature in self._features[evicted].tolist():
                del index[feature]
        return slots
