"""A synthetic CTR log shaped like Frappe: many low-cardinality context fields plus two high-cardinality ids.

Issue 22's question is where the two-slot form of MixFM/SMFM helps. Two random rows of this log share
most of their context values (a field with a few skewed values matches often), so a two-slot mix holds
most context features twice, and the code's extra term λ(1−λ)‖v_f‖² falls on those features in nearly
every mixed row, while a user or item id is almost never shared. The ground truth is an FM of rank
``rank`` (docs/smfm.md, "Context data"):

    logit = b0 + Σ β_f + Σ_{f<g fields} <u_f, u_g>,   u_f ~ N(0, σ_field² I_rank),  click ~ Bernoulli(σ(logit))

with σ = ``id_std`` for users and items and ``context_std`` for the context fields. ``context_std``
decides whether the context features' embeddings *should* be small (``context-weak``: contexts act
almost only through β_f) or not (``context-strong``: contexts interact with ids and each other), which
is what tells a penalty on frequently shared features apart from plain L2. Rows are i.i.d. (no
cold-start structure); validation and test are fresh draws.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from contract.fm import fm_logit, sigmoid
from training.tensors import Tensors


@dataclass(frozen=True)
class ContextConfig:
    users: int = 1_000
    items: int = 2_000
    contexts: tuple[int, ...] = (2, 2, 3, 3, 4, 5, 7, 7, 9, 10)  # cardinalities of the shared context fields
    skew: float = 2.0  # context value k has probability ∝ (k + 1)^-skew: a few values dominate, as in Frappe
    rank: int = 4
    train_rows: int = 60_000
    validation_rows: int = 10_000
    test_rows: int = 20_000
    bias: float = -0.8
    linear_std: float = 0.3
    id_std: float = 0.5  # users and items: <u_user, u_item> has std 0.25·√rank
    context_std: float = 0.2
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ContextData:
    train: Tensors
    validation: Tensors
    test: Tensors
    test_probability: np.ndarray  # the true click probability of every test row (the Bayes ceiling)
    num_features: int
    sizes: tuple[int, ...]  # per field: users, items, then the contexts
    config: ContextConfig


def generate(config: ContextConfig) -> ContextData:
    """Draw the ground truth and the three parts; a pure function of ``config`` (seeded)."""
    rng = np.random.default_rng(config.seed)
    sizes = (config.users, config.items, *config.contexts)
    stds = [config.id_std, config.id_std] + [config.context_std] * len(config.contexts)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    num_features = int(sum(sizes))
    linear = rng.normal(0.0, config.linear_std, num_features)
    embedding = np.concatenate(
        [rng.normal(0.0, std, (size, config.rank)) for size, std in zip(sizes, stds, strict=True)]
    )
    context_p = [_skewed(c, config.skew) for c in config.contexts]

    def draw(n: int) -> tuple[Tensors, np.ndarray]:
        columns = [rng.integers(0, config.users, n), rng.integers(0, config.items, n)]
        columns += [rng.choice(len(p), size=n, p=p) for p in context_p]
        ids = np.stack(columns, axis=1) + offsets  # (n, F)
        rows = np.concatenate([linear[ids][..., None], embedding[ids]], axis=2)  # (n, F, 1 + rank)
        p = sigmoid(fm_logit(rows, np.ones(ids.shape), config.bias))
        y = (rng.random(n) < p).astype(np.float32)
        t = Tensors(torch.from_numpy(ids.astype(np.int64)), torch.ones(n, len(sizes)), torch.from_numpy(y))
        return t, p

    train, _ = draw(config.train_rows)
    validation, _ = draw(config.validation_rows)
    test, test_p = draw(config.test_rows)
    return ContextData(train, validation, test, test_p, num_features, sizes, config)


def _skewed(cardinality: int, skew: float) -> np.ndarray:
    weights = (np.arange(cardinality) + 1.0) ** -skew
    return weights / weights.sum()


def shared_fraction(data: ContextData, field: int, pairs: int = 20_000, seed: int = 0) -> float:
    """How often two random training rows hold the same value of ``field`` (what a two-slot mix duplicates)."""
    rng = np.random.default_rng(seed)
    ids = data.train.ids[:, field].numpy()
    a, b = rng.integers(0, len(ids), pairs), rng.integers(0, len(ids), pairs)
    return float(np.mean(ids[a] == ids[b]))
