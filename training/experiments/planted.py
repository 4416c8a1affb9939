"""A synthetic CTR log with planted interactions between features that never co-occur in training.

Fields: ``user``, ``item`` and two shared context fields. The ground truth is an FM (docs/smfm.md):

    logit = b0 + Σ_f β_f + Σ_{f<g fields} <u_f, u_g>,   u ~ N(0, σ_field² I_rank),  click ~ Bernoulli(σ(logit))

Users and items are partitioned into ``groups``; training rows pair a user only with items of its own
group, so a user and an item of different groups never appear together in training. Validation and
test rows are half in-group (fresh draws) and half cross-group: those pairs are seen only there, and
their logit depends on the planted <u_user, u_item>. ``aligned`` > 0 makes the user-item interaction
follow the features' marginal effects (a shared direction s_f in both β_f and u_f), the case where a
mixed label λ·y_i + (1−λ)·y_j carries information about the unseen pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from contract.fm import fm_logit, sigmoid
from training.tensors import Tensors


@dataclass(frozen=True)
class PlantedConfig:
    users: int = 400
    items: int = 400
    contexts: tuple[int, ...] = (8, 4)  # cardinalities of the shared context fields
    groups: int = 2
    rank: int = 4
    train_rows: int = 100_000
    eval_rows: int = 20_000  # validation and test, each
    cross_fraction: float = 0.5  # of evaluation rows pairing a user with an item of another group
    bias: float = -0.5
    linear_std: float = 0.3
    user_item_std: float = 0.8  # σ of user and item embeddings: <u_user, u_item> has std 0.64·√rank
    context_std: float = 0.5
    aligned: float = 0.0  # share of the embeddings along the marginal direction s_f (0 = independent)
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PlantedData:
    train: Tensors
    validation: Tensors
    test: Tensors
    validation_cross: np.ndarray  # bool per validation row: a cross-group (never co-occurring) pair
    test_cross: np.ndarray
    test_probability: np.ndarray  # the true click probability of every test row (the Bayes ceiling)
    num_features: int
    config: PlantedConfig


def generate(config: PlantedConfig) -> PlantedData:
    """Draw the ground truth and the three parts; a pure function of ``config`` (seeded)."""
    rng = np.random.default_rng(config.seed)
    sizes = [config.users, config.items, *config.contexts]
    stds = [config.user_item_std, config.user_item_std] + [config.context_std] * len(config.contexts)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    num_features = int(sum(sizes))
    # Marginal direction s_f: drives the linear effect and, with ``aligned``, the first embedding axis.
    s = rng.normal(0.0, 1.0, num_features)
    linear = config.linear_std * s
    embedding = np.concatenate(
        [rng.normal(0.0, std, (size, config.rank)) for size, std in zip(sizes, stds, strict=True)]
    )
    scale = np.concatenate([np.full(size, std) for size, std in zip(sizes, stds, strict=True)])
    a = config.aligned
    embedding[:, 0] = np.sqrt(1 - a**2) * embedding[:, 0] + a * scale * s * np.sqrt(config.rank)

    def draw(n: int, cross: np.ndarray) -> tuple[Tensors, np.ndarray]:
        user = rng.integers(0, config.users, n)
        group = user * config.groups // config.users
        item_group = np.where(cross, (group + rng.integers(1, config.groups, n)) % config.groups, group)
        per_group = config.items // config.groups
        item = item_group * per_group + rng.integers(0, per_group, n)
        columns = [user, item] + [rng.integers(0, c, n) for c in config.contexts]
        ids = np.stack(columns, axis=1) + offsets  # (n, F)
        rows = np.concatenate([linear[ids][..., None], embedding[ids]], axis=2)  # (n, F, 1 + rank)
        p = sigmoid(fm_logit(rows, np.ones(ids.shape), config.bias))
        y = (rng.random(n) < p).astype(np.float32)
        t = Tensors(torch.from_numpy(ids.astype(np.int64)), torch.ones(n, len(sizes)), torch.from_numpy(y))
        return t, p

    def cross_mask(n: int) -> np.ndarray:
        return rng.random(n) < config.cross_fraction

    train, _ = draw(config.train_rows, np.zeros(config.train_rows, dtype=bool))
    validation_cross, test_cross = cross_mask(config.eval_rows), cross_mask(config.eval_rows)
    validation, _ = draw(config.eval_rows, validation_cross)
    test, test_p = draw(config.eval_rows, test_cross)
    return PlantedData(train, validation, test, validation_cross, test_cross, test_p, num_features, config)


def never_co_occurring(data: PlantedData) -> float:
    """Share of cross-group test rows whose (user, item) pair never appears in training (should be 1)."""
    seen = set(map(tuple, data.train.ids[:, :2].tolist()))
    cross = data.test.ids[torch.from_numpy(data.test_cross)][:, :2].tolist()
    return float(np.mean([tuple(pair) not in seen for pair in cross])) if cross else float("nan")
