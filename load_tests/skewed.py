"""Request records for the serving benchmark: the real MovieLens-100k test split, Zipf-skewed by user.

Real traffic is skewed: a few users send much of it. :func:`zipf_sample` draws records from a pool
(the test split, as :func:`movielens_test_records` reads it) in two seeded steps:

1. users are ranked by how many records they have in the pool (most first; ties by first
   appearance), and user of rank r (1-based) is drawn with probability ∝ 1 / r^exponent
   (default exponent 1.1);
2. one of that user's records is drawn uniformly.

So every request record is a real test-split record (raw values, as a client sends them); only
their frequencies are reshaped. Same pool, size, exponent and seed: the same records, in the same
order, so every scenario of one run (and two runs) sends identical bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import orjson

Form = Literal["records", "columns"]


def user_weights(records: Sequence[dict[str, Any]], key: str, exponent: float) -> tuple[list[Any], np.ndarray]:
    """Users ordered by record count (descending, ties by first appearance) and their Zipf weights (sum 1)."""
    counts: dict[Any, int] = {}
    for record in records:
        counts[record[key]] = counts.get(record[key], 0) + 1
    users = sorted(counts, key=lambda u: -counts[u])  # sorted() is stable: ties keep first appearance
    weights = 1.0 / np.arange(1, len(users) + 1, dtype=np.float64) ** exponent
    return users, weights / weights.sum()


def zipf_sample(
    records: Sequence[dict[str, Any]], n: int, *, key: str = "user_id", exponent: float = 1.1, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` records of ``records`` (the objects themselves), users drawn ∝ 1/rank^exponent (module docstring)."""
    if not records:
        raise ValueError("no records to sample from")
    users, weights = user_weights(records, key, exponent)
    by_user: dict[Any, list[int]] = {}
    for i, record in enumerate(records):
        by_user.setdefault(record[key], []).append(i)
    rng = np.random.default_rng(seed)
    picked_users = rng.choice(len(users), size=n, p=weights)
    out = []
    for u in picked_users:
        rows = by_user[users[u]]
        out.append(records[rows[int(rng.integers(len(rows)))]])
    return out


def movielens_test_records() -> list[dict[str, Any]]:
    """Raw records of MovieLens-100k's test split (``datasets/ml100k.toml``; needs the [train] extra)."""
    from contract.schema import load_schema
    from load_tests.server import ROOT
    from training.pipeline import prepare, raw_records

    prepared = prepare(load_schema(ROOT / "datasets/ml100k.toml"))
    return raw_records(prepared, prepared.split.test)


def as_columns(records: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The same rows column-wise (``{"columns": {field: [...]}}``); every key of any record gets a column."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    return {k: [r.get(k) for r in records] for k in keys}


def bodies(records: Sequence[dict[str, Any]], batch: int, form: Form = "records") -> list[bytes]:
    """Consecutive ``batch``-record slices of ``records`` as compact JSON request bodies."""
    out = []
    for i in range(0, len(records) - batch + 1, batch):
        chunk = records[i : i + batch]
        out.append(orjson.dumps({"records": chunk} if form == "records" else {"columns": as_columns(chunk)}))
    if not out:
        raise ValueError(f"{len(records)} records make no body of {batch}")
    return out
