"""What the two-slot self-interaction does to a trained FM (issue 22, docs/smfm.md): measurements, no training.

A two-slot mix of parents i, j adds δ = λ(1−λ)·Σ_{f both hold} a_f·b_f·‖v_f‖² to the merged row's logit.
The functions here take a trained model and an epoch of mixes and measure, per feature frequency bin:
how often a feature is held by both parents, the embedding norms, and the pressure the term puts on a
norm — d(mean loss)/d‖v_f‖ through δ, i.e. Σ_mixes r·2λ(1−λ)ab·‖v_f‖ / rows with r = σ(logit) − ỹ —
next to the pressure of the trainer's L2; and, for SMFM, how the saliency's choice moves δ.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from training.augment import candidate_pairs, draw_pairs, keep_most_salient, mix_pairs, saliency
from training.model import FactorizationMachine
from training.tensors import Tensors

# Training-count bin edges: [1, 10), [10, 100), ... ; count 0 (e.g. an OOV row never used) is its own bin.
EDGES = (1, 10, 100, 1_000, 10_000)


def bin_labels() -> list[str]:
    names = ["0"] + [f"{lo:,}-{hi - 1:,}" for lo, hi in itertools.pairwise(EDGES)]
    return [*names, f"≥{EDGES[-1]:,}"]


def feature_counts(data: Tensors, num_features: int) -> np.ndarray:
    """Training rows holding each feature (value ≠ 0), (num_features,)."""
    active = (data.values != 0).reshape(-1).to(torch.float64)
    return torch.bincount(data.ids.reshape(-1), weights=active, minlength=num_features).numpy()


def frequency_bins(counts: np.ndarray) -> np.ndarray:
    """Bin index of every feature: 0 for count 0, then one per decade (see :data:`EDGES`)."""
    return np.where(counts > 0, np.searchsorted(EDGES, counts, side="right"), 0)


def _by_bin(bins: np.ndarray, values: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean of ``values`` over the features of each non-empty bin, with the bin's feature count."""
    out = {}
    for b, label in enumerate(bin_labels()):
        mask = bins == b
        if mask.any():
            out[label] = {"features": int(mask.sum()), "mean": float(values[mask].mean())}
    return out


def norms_by_frequency(model: FactorizationMachine, train: Tensors) -> dict[str, Any]:
    """Mean ‖v_f‖ and |w_f| over the features of each training-count bin (what the grid runs record)."""
    weight = model.table.weight.detach().double().numpy()
    bins = frequency_bins(feature_counts(train, model.num_features))
    return {
        "embedding_norm": _by_bin(bins, np.linalg.norm(weight[:, 1:], axis=1)),
        "linear_abs": _by_bin(bins, np.abs(weight[:, 0])),
    }


def _parts(model: FactorizationMachine, merged: Tensors) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merged logit z, self-interaction δ per row, and ‖v‖² per slot, for merged rows with ``shared``."""
    assert merged.shared is not None
    with torch.no_grad():
        z = model(merged.ids, merged.values).double()  # (n,)
        norms2 = model.table.weight[:, 1:].double().pow(2).sum(1)[merged.ids]  # (n, S)
        delta = (merged.shared.double() * norms2).sum(1)  # (n,)
    return z, delta, norms2


def self_interaction_effect(
    model: FactorizationMachine, train: Tensors, l2: float, seed: int = 0, alpha: float = 0.5
) -> dict[str, Any]:
    """One epoch of random mixes (MixFM's draw) scored by ``model``: where δ falls, and what it pushes.

    Per frequency bin: the share of a feature's mixes in which both parents hold it; the mean norm; the
    pressure of δ on ‖v_f‖ (mean over the bin's features of Σ_mixes r·2·w_f·‖v_f‖ / mixes, w_f the
    pair weight λ(1−λ)ab, r the two-slot residual; > 0 shrinks the norm); and the L2 pressure
    2·l2·count_f·‖v_f‖ / rows at the given ``l2``. Per number of shared features: mean δ and residuals.
    """
    gen = torch.Generator().manual_seed(seed)
    merged = mix_pairs(train, draw_pairs(len(train), 1.0, alpha, gen), True, track_shared=True)
    z, delta, norms2 = _parts(model, merged)
    y = merged.labels.double()
    r_two = torch.sigmoid(z + delta) - y  # what the two-slot form's loss sees
    r_merged = torch.sigmoid(z) - y
    assert merged.shared is not None
    pair = merged.shared.double()  # (n, S)
    num = model.num_features
    ids = merged.ids.reshape(-1)
    norm = norms2.sqrt().reshape(-1)
    pressure = torch.bincount(ids, weights=(r_two.unsqueeze(1) * 2 * pair).reshape(-1) * norm, minlength=num)
    held_twice = torch.bincount(ids, weights=(pair > 0).reshape(-1).double(), minlength=num)
    held = torch.bincount(ids, weights=(merged.values != 0).reshape(-1).double(), minlength=num)
    counts = feature_counts(train, num)
    bins = frequency_bins(counts)
    v_norm = model.table.weight.detach().double()[:, 1:].norm(dim=1).numpy()
    n = len(merged)
    shared_count = (pair > 0).sum(1)
    by_shared = {}
    for label, lo, hi in (("0", 0, 1), ("1-2", 1, 3), ("3-5", 3, 6), ("6+", 6, 10**6)):
        mask = (shared_count >= lo) & (shared_count < hi)
        if mask.any():
            by_shared[label] = {"share_of_mixes": float(mask.double().mean()), "delta": float(delta[mask].mean()),
                                "residual_merged": float(r_merged[mask].mean()),
                                "residual_two_slot": float(r_two[mask].mean())}  # fmt: skip
    share = np.divide(held_twice.numpy(), held.numpy(), out=np.zeros(num), where=held.numpy() > 0)
    return {
        "mixes": n,
        "mean_shared_features": float(shared_count.double().mean()),
        "mean_delta": float(delta.mean()),
        # δ-weighted mean residual: the effective coefficient of the implied penalty (> 0: net shrinkage)
        "effective_coefficient": float((r_two * delta).sum() / delta.sum()) if float(delta.sum()) > 0 else 0.0,
        "by_shared_features": by_shared,
        "share_rate": _by_bin(bins, share),
        "embedding_norm": _by_bin(bins, v_norm),
        "self_pressure": _by_bin(bins, pressure.numpy() / n),
        "l2_pressure": _by_bin(bins, 2 * l2 * counts * v_norm / len(train)),
    }


def saliency_choice(
    model: FactorizationMachine, train: Tensors, merge: bool, candidates: int = 10, seed: int = 0, alpha: float = 0.5
) -> dict[str, dict[str, float]]:
    """SMFM's signed-saliency choice, scored in the given form: mean shared features, δ, mixed label and
    residual of all K candidates against the kept one per row (δ and residuals under the two-slot logit)."""
    gen = torch.Generator().manual_seed(seed)
    pairs = candidate_pairs(len(train), candidates, 1.0, alpha, gen)
    merged = mix_pairs(train, pairs, True, track_shared=True)
    scored = merged if merge else mix_pairs(train, pairs, False)
    scores = saliency(model, Tensors(scored.ids, scored.values, scored.labels), "signed")
    index = torch.arange(len(pairs))
    kept = keep_most_salient(type(pairs)(index, pairs.second, pairs.lam), scores, candidates).first
    z, delta, _ = _parts(model, merged)
    assert merged.shared is not None
    shared_count = (merged.shared > 0).sum(1).double()
    y = merged.labels.double()
    form = z if merge else z + delta

    def summary(rows: torch.Tensor) -> dict[str, float]:
        return {"shared_features": float(shared_count[rows].mean()), "delta": float(delta[rows].mean()),
                "label": float(y[rows].mean()), "residual": float((torch.sigmoid(form[rows]) - y[rows]).mean()),
                "lam": float(pairs.lam[rows].double().mean())}  # fmt: skip

    return {"all candidates": summary(index), "kept": summary(kept)}
