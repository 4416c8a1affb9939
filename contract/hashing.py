"""The hashed id space: feature ids that need no vocabulary, for stores shared between replicas.

::

    hashed id = field index << 56 | feature_hash(field name, canonical value)   (56 bits, never 0)
    the field's OOV feature = field index << 56                                 (hash part 0)

No vocabulary is needed: the store holds a row for every feature of the vocabulary (keyed by its
hashed id), and an id the store does not hold is an unseen value, i.e. the OOV feature of the field
its top byte names. Ids say their field, so a store needs no slot positions (callers may reshape
or concatenate ids). The vocabulary id space (``contract.field``) and this one share every step
before the last (canonical values, buckets, slots, values), so a record gets the same rows, hence
the same score, in both.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

FIELD_SHIFT = 56  # hashed id = field index << FIELD_SHIFT | value hash
HASH_MASK = (1 << FIELD_SHIFT) - 1
MAX_HASHED_FIELDS = 127  # the field index must keep ids positive int64
HASH_MEMO = 1 << 14  # canonical values memoised per field when hashing (bounded: not a vocabulary)


def feature_hash(field: str, canonical: str) -> int:
    """The value part of a hashed id: 56 bits of BLAKE2b of ``field=canonical``, never 0.

    Stable across processes, machines and Python versions (unlike ``hash()``), because store keys
    are derived from it. The field name is part of the input, so equal values of different fields
    differ. Numeric buckets are hashed as ``#<bucket>`` (1-based, as their local ids).
    """
    digest = hashlib.blake2b(f"{field}\x1f{canonical}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & HASH_MASK) or 1


def hashed_oov(field_index: int | np.ndarray) -> Any:
    """Hashed id of a field's OOV feature (works on arrays of field indices)."""
    return field_index << FIELD_SHIFT


def hashed_field(ids: Any) -> Any:
    """Field index of hashed ids (int or int64 array)."""
    return ids >> FIELD_SHIFT


def bucket_ids(field: str, index: int, size: int) -> list[int]:
    """Hashed ids of a numeric field's local ids 0 (OOV) .. size-1 (its buckets)."""
    tag = hashed_oov(index)
    return [tag] + [tag | feature_hash(field, f"#{k}") for k in range(1, size)]


class HashedIds(dict[str, int]):
    """The hashed id space's stand-in for a vocabulary: ``ids[value]`` is the value's hashed id.

    Ids are memoised (a plain dict hit costs what a vocabulary lookup costs); the memo is bounded,
    emptied when full, so it never grows into a vocabulary.
    """

    def __init__(self, field: str, index: int) -> None:
        super().__init__()
        self.field = field
        self.tag = hashed_oov(index)

    def __missing__(self, value: str) -> int:
        if len(self) >= HASH_MEMO:
            self.clear()
        feature = self[value] = self.tag | feature_hash(self.field, value)
        return feature
