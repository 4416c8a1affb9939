"""Per-epoch training data: the original rows, optionally augmented (CopyFM, MixFM, SMFM).

Augmentations are pure functions of the training tensors, the current model and a generator; the
training loop calls :func:`epoch_data` once per epoch and slices shuffled mini-batches from what it
returns. Everything is vectorised over rows; the only loop is over fixed-size chunks of candidates.

What each function restates from the authors' code (``Daftstone/SMFM``) is in docs/smfm.md;
``paper-spec §n`` below refers to the items of /work/shared/paper-spec.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from training.config import SALIENCY_MODES, TrainConfig
from training.model import FactorizationMachine
from training.tensors import Tensors

SALIENCY_CHUNK = 65_536  # candidate rows scored at once: bounds the (chunk, M, M) merge comparison


@dataclass(frozen=True)
class Pairs:
    """Which rows a batch of mixes combines: first parents, second parents, and λ of each, all (n,)."""

    first: torch.Tensor  # int64; the dominant parent
    second: torch.Tensor  # int64
    lam: torch.Tensor  # float32 in [0.5, 1]

    def __len__(self) -> int:
        return int(self.first.shape[0])


def folded_beta(n: int, alpha: float, generator: torch.Generator) -> torch.Tensor:
    """λ ~ Beta(α, α) folded into [0.5, 1] (λ ← |λ − 0.5| + 0.5), shape (n,): the first parent dominates.

    torch's Beta sampler takes no generator, so a numpy generator is seeded from ``generator``:
    the result is still a deterministic function of the torch generator's state.
    """
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
    lam = rng.beta(alpha, alpha, size=n)
    return torch.from_numpy(np.abs(lam - 0.5) + 0.5).float()


def first_parents(n: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """``round(ratio·n)`` distinct-as-possible rows: a random permutation, cut (or repeated when ratio > 1)."""
    count = max(1, int(n * ratio))
    rounds = -(-count // n)  # ceil: ratio > 1 concatenates fresh permutations
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(rounds)])[:count]


def draw_pairs(n: int, ratio: float, alpha: float, generator: torch.Generator) -> Pairs:
    """MixFM's parents (``MixFM.py: mix_all``): first = permutation[:ratio·n]; second = uniform, with
    replacement, from the same subset, independent of the first; λ per mix from the folded Beta(α, α)."""
    first = first_parents(n, ratio, generator)
    second = first[torch.randint(0, len(first), (len(first),), generator=generator)]
    return Pairs(first, second, folded_beta(len(first), alpha, generator))


def mix_pairs(data: Tensors, pairs: Pairs, merge: bool = True, track_shared: bool = False) -> Tensors:
    """Mixed rows x̃ = λ·x_i + (1−λ)·x_j, ỹ = λ·y_i + (1−λ)·y_j, as (n, 2M) slots.

    ids = concat(ids_i, ids_j); values = concat(λ·x_i, (1−λ)·x_j). With ``merge`` (the default), a
    feature active in both parents keeps one slot (the first parent's) holding λ·a + (1−λ)·b, and its
    second-parent slot gets value 0: the rows are then exactly the real vector x̃, with no extra
    self-interaction λ(1−λ)‖v_f‖² that the two-slot form of the authors' code adds (paper-spec §MixFM 6).
    ``track_shared`` (merged rows only) also returns that term's weights as ``Tensors.shared``.
    """
    first, second = data.take(pairs.first), data.take(pairs.second)  # (n, M) each
    lam = pairs.lam.unsqueeze(1)  # (n, 1)
    x_i = first.values * lam  # (n, M)
    x_j = second.values * (1 - lam)  # (n, M)
    shared = None
    if merge:
        x_i, x_j, shared = _merge_shared(first.ids, x_i, second.ids, x_j)
    elif track_shared:
        raise ValueError("track_shared needs merged rows: two slots carry the self-interaction in the logit")
    labels = pairs.lam * first.labels + (1 - pairs.lam) * second.labels
    ids, values = torch.cat([first.ids, second.ids], dim=1), torch.cat([x_i, x_j], dim=1)
    if track_shared:
        assert shared is not None
        return Tensors(ids, values, labels, torch.cat([shared, torch.zeros_like(shared)], dim=1))
    return Tensors(ids, values, labels)


def mix(
    data: Tensors,
    ratio: float,
    alpha: float,
    generator: torch.Generator,
    merge: bool = True,
    track_shared: bool = False,
) -> Tensors:
    """MixFM: ``ratio·N`` random mixes of the training rows (see :func:`draw_pairs`, :func:`mix_pairs`)."""
    return mix_pairs(data, draw_pairs(len(data), ratio, alpha, generator), merge, track_shared)


def copy_rows(data: Tensors, ratio: float, generator: torch.Generator) -> Tensors:
    """CopyFM (``CopyFM.py: mix_all``): the N rows plus ``ratio·N`` copies drawn uniformly with replacement.

    The control for "more updates per epoch" without mixing; rows keep their M slots.
    """
    extra = torch.randint(0, len(data), (max(1, int(len(data) * ratio)),), generator=generator)
    return concat(data, data.take(extra))


def pad_slots(data: Tensors) -> Tensors:
    """Original rows widened to 2M slots so they batch with mixed rows: (ids, ids) and (values, 0).

    The padding repeats each row's own ids with value 0: they add nothing to the logit, get zero
    gradient, and touch no table row the sample does not already touch (which matters for SparseAdam,
    whose momentum would move any row present in a sparse gradient).
    """
    values = torch.cat([data.values, torch.zeros_like(data.values)], dim=1)  # (N, 2M)
    return Tensors(torch.cat([data.ids, data.ids], dim=1), values, data.labels)


def concat(*parts: Tensors) -> Tensors:
    """Rows of all parts, in order (parts must have the same number of slots).

    If any part carries ``shared`` weights, the others get zeros (an original row shares nothing).
    """
    shared = None
    if any(p.shared is not None for p in parts):
        shared = torch.cat([p.shared if p.shared is not None else torch.zeros_like(p.values) for p in parts])
    return Tensors(
        torch.cat([p.ids for p in parts]), torch.cat([p.values for p in parts]), torch.cat([p.labels for p in parts]),
        shared,
    )  # fmt: skip


def saliency(model: FactorizationMachine, rows: Tensors, mode: str = "signed") -> torch.Tensor:
    """Per-row saliency (n,) of the loss gradient with respect to the input values, in closed form.

    For slot t with id f, value x_t, and S = Σ_u x_u·V[id_u] (the code's ``tf.gradients(loss,
    feature_weights)``, per sample instead of averaged over a 200k-row chunk, paper-spec §SMFM 2):

        g_t = ∂ℓ/∂x_t = (σ(logit) − ỹ) · (w[f] + ⟨V[f], S − x_t·V[f]⟩)

    Summed over active slots (x_t ≠ 0): ``signed`` Σ g_t (the code's ``SMFM.py: evaluate_data1``),
    ``grad_input`` Σ x_t·g_t (the NFM variant, ``SMNeuralFM.py``), ``abs`` Σ |g_t|.
    """
    if mode not in SALIENCY_MODES:
        raise ValueError(f"unknown saliency mode {mode!r}; expected one of {SALIENCY_MODES}")
    if mode != "abs":
        return _saliency_by_sums(model, rows, mode)
    with torch.no_grad():
        weight = model.table.weight
        w = weight[:, 0][rows.ids]  # (n, S)
        v = torch.nn.functional.embedding(rows.ids, weight[:, 1:].contiguous())  # (n, S, K), contiguous for bmm
        x = rows.values  # (n, S)
        vv = torch.einsum("nsk,nsk->ns", v, v)  # (n, S): ‖V_t‖²
        summed = torch.bmm(x.unsqueeze(1), v).squeeze(1)  # (n, K): S
        logit = model.bias + (w * x).sum(1) + 0.5 * (summed.pow(2).sum(1) - (x.pow(2) * vv).sum(1))  # (n,)
        inner = torch.bmm(v, summed.unsqueeze(2)).squeeze(2) - x * vv  # (n, S): ⟨V_t, S − x_t V_t⟩
        grad = (torch.sigmoid(logit) - rows.labels).unsqueeze(1) * (w + inner)  # (n, S)
        return (grad * (x != 0)).abs().sum(dim=1)


def _saliency_by_sums(model: FactorizationMachine, rows: Tensors, mode: str) -> torch.Tensor:
    """``signed`` and ``grad_input`` saliency without gathering a (n, S, K) block.

    Both sums are linear in the slots, so they need only weighted row sums of the table, which
    ``embedding_bag`` computes without materialising the gathered rows (~7x faster per candidate chunk
    than gather + bmm; equal up to float rounding, tests/training/test_augment.py). With a = Σ_t x_t·row_t
    = [Σ x w, S], active_t = [x_t ≠ 0] and n_t = ‖V[id_t]‖²:

        signed:     Σ_t active_t·g_t = r·(Σ active·w + ⟨Σ active·V, S⟩ − Σ active·x·n)
        grad_input: Σ_t x_t·g_t     = r·(Σ x·w + ‖S‖² − Σ x²·n),       r = σ(logit) − ỹ
    """
    with torch.no_grad():
        weight, x, ids = model.table.weight, rows.values, rows.ids
        sums = F.embedding_bag(ids, weight, per_sample_weights=x, mode="sum")  # (n, K+1): [Σ x w, S]
        summed = sums[:, 1:]  # (n, K): S
        norms = weight[:, 1:].pow(2).sum(1).index_select(0, ids.reshape(-1)).view_as(x)  # (n, S): ‖V_t‖²
        x2n = x.pow(2) * norms
        logit = model.bias + sums[:, 0] + 0.5 * (summed.pow(2).sum(1) - x2n.sum(1))
        if mode == "signed":
            active = (x != 0).to(x.dtype)
            bag = F.embedding_bag(ids, weight, per_sample_weights=active, mode="sum")  # [Σ active w, Σ active V]
            total = bag[:, 0] + (bag[:, 1:] * summed).sum(1) - (active * x * norms).sum(1)
        else:
            total = sums[:, 0] + summed.pow(2).sum(1) - x2n.sum(1)
        return (torch.sigmoid(logit) - rows.labels) * total


def candidate_pairs(n: int, candidates: int, ratio: float, alpha: float, generator: torch.Generator) -> Pairs:
    """SMFM's candidate mixes (``SMFM.py: mix_all``): each first parent p (a permutation cut to ratio·n) gets
    ``candidates`` mixes, each with its own uniform partner from the same subset and its own folded λ.

    Candidate k of first parent p sits at ``k·len(first) + p``, as in the code's layout.
    """
    first = first_parents(n, ratio, generator)
    firsts = first.repeat(candidates)  # (K·n,)
    seconds = first[torch.randint(0, len(first), (len(firsts),), generator=generator)]
    return Pairs(firsts, seconds, folded_beta(len(firsts), alpha, generator))


def keep_most_salient(pairs: Pairs, scores: torch.Tensor, candidates: int) -> Pairs:
    """For each first parent, the candidate with the largest score (ties: the lowest k)."""
    n = len(pairs) // candidates
    best = scores.view(candidates, n).argmax(dim=0) * n + torch.arange(n)  # (n,)
    return Pairs(pairs.first[best], pairs.second[best], pairs.lam[best])


def select_by_saliency(
    data: Tensors,
    model: FactorizationMachine,
    generator: torch.Generator,
    candidates: int = 10,
    ratio: float = 1.0,
    alpha: float = 0.5,
    mode: str = "signed",
    merge: bool = True,
    phases: dict[str, float] | None = None,
    track_shared: bool = False,
) -> Tensors:
    """SMFM: draw ``candidates`` random mixes per first parent, keep the most salient under the current
    model (:func:`saliency`), and return those ratio·N mixed rows, (ratio·N, 2M).

    Saliency only selects: λ and the features of the kept mix are untouched (paper-spec §SMFM 5).
    Candidates are scored in chunks so the gathered rows stay bounded; only the kept mixes are built.
    ``phases``, when given, receives the seconds of the scoring pass under "saliency" (building and
    scoring the candidate mixes: the part of SMFM that MixFM does not pay).
    """
    pairs = candidate_pairs(len(data), candidates, ratio, alpha, generator)
    started = time.perf_counter()
    scores = torch.empty(len(pairs))
    for start in range(0, len(pairs), SALIENCY_CHUNK):
        sl = slice(start, start + SALIENCY_CHUNK)
        chunk = Pairs(pairs.first[sl], pairs.second[sl], pairs.lam[sl])
        scores[sl] = saliency(model, mix_pairs(data, chunk, merge), mode)
    if phases is not None:
        phases["saliency"] = phases.get("saliency", 0.0) + time.perf_counter() - started
    return mix_pairs(data, keep_most_salient(pairs, scores, candidates), merge, track_shared)


def epoch_data(
    config: TrainConfig,
    data: Tensors,
    model: FactorizationMachine,
    generator: torch.Generator,
    phases: dict[str, float] | None = None,
) -> Tensors:
    """The rows one epoch trains on (the loop shuffles them).

    ``none``: the N rows. ``copy``: N + r·N rows (M slots). ``mixfm``/``smfm``: r·N mixed or selected
    rows + the N originals padded to 2M slots, pooled into one unweighted mean loss (no auxiliary loss).
    ``phases``, when given, receives seconds under "mix" (drawing, copying, mixing, pooling) and
    "saliency" (SMFM's candidate scoring; 0 for the other methods).
    """
    started = time.perf_counter()
    timed: dict[str, float] = {"saliency": 0.0}
    rows = _epoch_rows(config, data, model, generator, timed)
    if phases is not None:
        phases["saliency"] = timed["saliency"]
        # No augmentation is no mixing: not the microseconds of the call that returns the rows as they are.
        mixing = config.augment != "none"
        phases["mix"] = time.perf_counter() - started - timed["saliency"] if mixing else 0.0
    return rows


def _epoch_rows(
    config: TrainConfig,
    data: Tensors,
    model: FactorizationMachine,
    generator: torch.Generator,
    phases: dict[str, float],
) -> Tensors:
    if config.augment == "none":
        return data
    if config.augment == "copy":
        return copy_rows(data, config.mix_ratio, generator)
    track = config.shared_penalty > 0  # the explicit penalty needs each mix's shared-feature weights
    if config.augment == "mixfm":
        mixed = mix(data, config.mix_ratio, config.mix_alpha, generator, config.mix_merge, track)
    elif config.augment == "smfm":
        mixed = select_by_saliency(
            data, model, generator, config.candidates, config.mix_ratio, config.mix_alpha, config.saliency,
            config.mix_merge, phases, track,
        )  # fmt: skip
    else:
        raise ValueError(f"unknown augmentation {config.augment!r}")
    return concat(mixed, pad_slots(data))


def _merge_shared(
    ids_i: torch.Tensor, x_i: torch.Tensor, ids_j: torch.Tensor, x_j: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move each second-parent value whose id the first parent also holds into that first-parent slot.

    Ids are compared slot against slot, (n, M, M): M is a few dozen at most, and this avoids a sort.
    A first parent holding an id twice (padding of a multi-valued field, value 0) receives the value at
    its first occurrence. Returns new (x_i, x_j) — ids are unchanged (a moved slot keeps its id, value
    0) — and (n, M_i) the products x_i·x_j of the merged pairs at their first-parent slot: the
    self-interaction weights λ(1−λ)·a·b that two slots would have put in the logit.
    """
    same = ids_j.unsqueeze(2) == ids_i.unsqueeze(1)  # (n, M_j, M_i)
    # argmax takes no bool; a uint8 view is free. Its first maximum is the first matching slot of parent i,
    # and whether that slot matches at all says whether any does (one gather instead of a second pass).
    target = same.view(torch.uint8).argmax(dim=2)  # (n, M_j)
    shared = same.gather(2, target.unsqueeze(2)).squeeze(2)  # (n, M_j)
    moved = x_j * shared  # (n, M_j)
    pair_weight = torch.zeros_like(x_i).scatter_add(1, target, moved * x_i.gather(1, target))  # (n, M_i)
    return x_i.scatter_add(1, target, moved), x_j.masked_fill(shared, 0.0), pair_weight
