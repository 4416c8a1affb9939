"""Oracle tests for MixFM / SMFM / CopyFM (training/augment.py): dense vectors, autograd, brute-force argmax."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.augment import (
    Pairs,
    candidate_pairs,
    copy_rows,
    draw_pairs,
    epoch_data,
    folded_beta,
    keep_most_salient,
    mix_pairs,
    pad_slots,
    saliency,
    select_by_saliency,
)
from training.config import TrainConfig
from training.model import FactorizationMachine
from training.tensors import Tensors

NUM_FEATURES = 12


def rows_with_overlap(n: int = 40, seed: int = 0) -> Tensors:
    """Rows of 3 one-hot fields + one 2-slot multi-valued field (padded with its OOV id 9, value 0),
    with a real-valued slot; small vocabularies so parents often share features."""
    gen = torch.Generator().manual_seed(seed)
    f1 = torch.randint(0, 3, (n, 1), generator=gen)
    f2 = torch.randint(3, 6, (n, 1), generator=gen)
    f3 = torch.randint(6, 9, (n, 1), generator=gen)
    tags = torch.randint(10, 12, (n, 1), generator=gen)
    tags = torch.cat([tags, 21 - tags], dim=1)  # two distinct tags (a list never repeats an item)
    pad = torch.rand(n, generator=gen) < 0.5
    tags[pad, 1] = 9  # OOV padding...
    ids = torch.cat([f1, f2, f3, tags], dim=1)
    values = torch.ones(n, 5)
    values[:, 2] = torch.rand(n, generator=gen) * 3  # a real-valued slot
    values[:, 3:] = 0.5
    values[pad, 4] = 0.0  # ...with value 0
    labels = torch.randint(0, 2, (n,), generator=gen).float()
    return Tensors(ids, values, labels)


def dense(t: Tensors) -> np.ndarray:
    """The real-valued input vector of every row, (n, NUM_FEATURES), one row at a time."""
    out = np.zeros((len(t), NUM_FEATURES))
    for r in range(len(t)):
        for f, x in zip(t.ids[r].tolist(), t.values[r].tolist(), strict=True):
            out[r, f] += x
    return out


def dense_fm_logit(model: FactorizationMachine, x: np.ndarray) -> np.ndarray:
    """FM of real vectors over distinct features only: w0 + Σ w_f x_f + Σ_{f<g} <v_f, v_g> x_f x_g."""
    w = model.table.weight.detach().double().numpy()
    out = []
    for row in x:
        total = float(model.bias.detach()) + float(w[:, 0] @ row)
        for f, g in itertools.combinations(np.flatnonzero(row), 2):
            total += float(w[f, 1:] @ w[g, 1:]) * row[f] * row[g]
        out.append(total)
    return np.array(out)


def random_model(seed: int = 0, dim: int = 4) -> FactorizationMachine:
    torch.manual_seed(seed)
    model = FactorizationMachine(NUM_FEATURES, dim, init_std=0.5)
    with torch.no_grad():
        model.table.weight[:, 0].normal_(0, 0.5)  # nonzero linear weights, so the saliency uses them
        model.bias.fill_(0.1)
    return model.eval()


def some_pairs(n: int, seed: int = 1) -> Pairs:
    return draw_pairs(n, 1.0, 0.5, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("merge", [True, False])
def test_lambda_one_returns_the_first_parent_exactly(merge):
    data = rows_with_overlap()
    n = len(data)
    pairs = Pairs(torch.arange(n), torch.randperm(n), torch.ones(n))
    mixed = mix_pairs(data, pairs, merge)
    assert torch.equal(mixed.ids[:, :5], data.ids)
    assert torch.equal(mixed.values[:, :5], data.values)
    assert torch.equal(mixed.values[:, 5:], torch.zeros(n, 5))
    assert torch.equal(mixed.labels, data.labels)
    model = random_model()
    with torch.no_grad():
        torch.testing.assert_close(model(mixed.ids, mixed.values), model(data.ids, data.values))


@pytest.mark.parametrize("merge", [True, False])
def test_mixed_rows_are_the_convex_combination_of_dense_vectors(merge):
    data = rows_with_overlap()
    pairs = some_pairs(len(data))
    mixed = mix_pairs(data, pairs, merge)
    lam = pairs.lam.double().numpy()[:, None]
    x = dense(data)
    expected = lam * x[pairs.first.numpy()] + (1 - lam) * x[pairs.second.numpy()]
    np.testing.assert_allclose(dense(mixed), expected, rtol=1e-6, atol=1e-7)
    assert mixed.ids.shape == mixed.values.shape == (len(data), 10)
    y = data.labels.double().numpy()
    np.testing.assert_allclose(
        mixed.labels.numpy(), lam[:, 0] * y[pairs.first.numpy()] + (1 - lam[:, 0]) * y[pairs.second.numpy()], rtol=1e-6
    )


def test_lambda_is_folded_beta():
    lam = folded_beta(20000, 0.5, torch.Generator().manual_seed(0)).double().numpy()
    assert lam.min() >= 0.5 and lam.max() <= 1.0
    # |B - 1/2| + 1/2 for B ~ Beta(1/2, 1/2) (arcsine): P(λ <= t) = (4/π)·asin(√t) − 1 on [1/2, 1].
    for t in (0.6, 0.75, 0.9):
        assert (lam <= t).mean() == pytest.approx(4 / np.pi * np.arcsin(np.sqrt(t)) - 1, abs=0.015)


def test_merge_gives_one_slot_per_feature_and_the_dense_fm():
    """Merged rows are x̃ itself: no feature holds two nonzero slots, and the slot FM equals the FM of the
    real vector; the code's two-slot form adds λ(1−λ)‖v_f‖² for each feature both parents hold."""
    data = rows_with_overlap()
    pairs = some_pairs(len(data))
    merged, two_slot = mix_pairs(data, pairs, True), mix_pairs(data, pairs, False)
    for r in range(len(merged)):
        active = merged.ids[r][merged.values[r] != 0].tolist()
        assert len(active) == len(set(active))
    shared = [
        set(data.ids[i][data.values[i] != 0].tolist()) & set(data.ids[j][data.values[j] != 0].tolist())
        for i, j in zip(pairs.first.tolist(), pairs.second.tolist(), strict=True)
    ]
    assert sum(map(len, shared)) > 10  # the fixture really exercises the merge
    model = random_model()
    with torch.no_grad():
        slot_logit = model(merged.ids, merged.values).double().numpy()
        two_slot_logit = model(two_slot.ids, two_slot.values).double().numpy()
    np.testing.assert_allclose(slot_logit, dense_fm_logit(model, dense(merged)), rtol=1e-5, atol=1e-5)
    v = model.table.weight.detach().double().numpy()[:, 1:]
    x_i, x_j = dense(data)[pairs.first.numpy()], dense(data)[pairs.second.numpy()]
    lam = pairs.lam.double().numpy()[:, None]
    self_terms = ((lam * x_i) * ((1 - lam) * x_j) * (v**2).sum(1)[None, :]).sum(1)
    np.testing.assert_allclose(two_slot_logit - slot_logit, self_terms, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["signed", "grad_input", "abs"])
@pytest.mark.parametrize("merge", [True, False])
def test_closed_form_saliency_equals_autograd(mode, merge):
    data = rows_with_overlap()
    mixed = mix_pairs(data, some_pairs(len(data)), merge)
    model = random_model()
    values = mixed.values.clone().requires_grad_(True)
    # Sum of per-sample losses: its gradient w.r.t. row r's values is row r's own per-sample gradient.
    loss = F.binary_cross_entropy_with_logits(model(mixed.ids, values), mixed.labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, values)
    grad = grad * (mixed.values != 0)  # active slots only
    expected = {"signed": grad, "grad_input": grad * mixed.values, "abs": grad.abs()}[mode].sum(1)
    torch.testing.assert_close(saliency(model, mixed, mode), expected, rtol=1e-4, atol=1e-6)


def test_unknown_saliency_mode_is_refused():
    data = rows_with_overlap()
    with pytest.raises(ValueError, match="saliency mode"):
        saliency(random_model(), data, "loss")


def test_selection_keeps_each_parents_most_salient_candidate():
    data, model, k = rows_with_overlap(), random_model(), 4
    selected = select_by_saliency(data, model, torch.Generator().manual_seed(5), candidates=k)
    # Replay the candidates from the same seed, score them, and pick the best per parent one at a time.
    cands = candidate_pairs(len(data), k, 1.0, 0.5, torch.Generator().manual_seed(5))
    scores = saliency(model, mix_pairs(data, cands))
    n = len(data)
    best = [max(range(k), key=lambda c, p=p: float(scores[c * n + p])) * n + p for p in range(n)]
    expected = mix_pairs(data, Pairs(cands.first[best], cands.second[best], cands.lam[best]))
    assert torch.equal(selected.ids, expected.ids)
    torch.testing.assert_close(selected.values, expected.values)
    assert sorted(cands.first[best].tolist()) == list(range(n))  # every row is a first parent once
    assert all(float(scores[b]) >= float(scores[c * n + b % n]) for b in best for c in range(k))


def test_keep_most_salient_is_an_argmax_over_candidates():
    pairs = Pairs(torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([5, 6, 7, 8, 9, 10]), torch.ones(6))
    kept = keep_most_salient(pairs, torch.tensor([0.1, 3.0, 2.0, -1.0, -5.0, 3.5]), candidates=3)
    assert kept.first.tolist() == [0, 1] and kept.second.tolist() == [7, 10]


@pytest.mark.parametrize(
    ("augment", "ratio", "rows", "slots"),
    [("none", 1.0, 40, 5), ("copy", 1.0, 80, 5), ("copy", 0.5, 60, 5), ("mixfm", 1.0, 80, 10), ("mixfm", 0.5, 60, 10),
     ("smfm", 1.0, 80, 10), ("mixfm", 2.0, 120, 10)],
)  # fmt: skip
def test_epoch_data_shapes(augment, ratio, rows, slots):
    data = rows_with_overlap()
    config = TrainConfig(augment=augment, mix_ratio=ratio, candidates=3)
    out = epoch_data(config, data, random_model(), torch.Generator().manual_seed(0))
    assert out.ids.shape == out.values.shape == (rows, slots)
    assert out.labels.shape == (rows,)
    if augment in ("mixfm", "smfm"):  # the originals come last, padded with value 0
        tail = out.take(torch.arange(rows - len(data), rows))
        assert torch.equal(tail.ids[:, :5], data.ids) and torch.equal(tail.values[:, :5], data.values)
        assert torch.equal(tail.values[:, 5:], torch.zeros(len(data), 5))


def test_copy_rows_appends_exact_copies():
    data = rows_with_overlap()
    out = copy_rows(data, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out.ids[:40], data.ids)

    def as_rows(t: Tensors) -> list[tuple]:
        return [
            (tuple(i), tuple(v), y)
            for i, v, y in zip(t.ids.tolist(), t.values.tolist(), t.labels.tolist(), strict=True)
        ]

    originals = set(as_rows(data))
    assert all(row in originals for row in as_rows(out.take(torch.arange(40, 80))))


def test_padding_leaves_logits_unchanged():
    data, model = rows_with_overlap(), random_model()
    padded = pad_slots(data)
    with torch.no_grad():
        torch.testing.assert_close(model(padded.ids, padded.values), model(data.ids, data.values))


@pytest.mark.parametrize("augment", ["copy", "mixfm", "smfm"])
def test_augmentation_is_deterministic_given_the_seed(augment):
    data, model = rows_with_overlap(), random_model()
    config = TrainConfig(augment=augment, candidates=3)
    a, b, c = (epoch_data(config, data, model, torch.Generator().manual_seed(s)) for s in (3, 3, 4))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.values, b.values) and torch.equal(a.labels, b.labels)
    assert not (torch.equal(a.ids, c.ids) and torch.equal(a.values, c.values))


def test_mixfm_parents_come_from_the_same_subset():
    pairs = draw_pairs(1000, 0.3, 0.5, torch.Generator().manual_seed(0))
    assert len(pairs) == 300
    assert len(set(pairs.first.tolist())) == 300  # a permutation, cut
    assert set(pairs.second.tolist()) <= set(pairs.first.tolist())


def test_mixing_gives_gradient_to_a_pair_that_never_co_occurs():
    """Field A = {0, 1}, field B = {2, 3}; training rows are only (0, 2) and (1, 3). On the original
    rows the gradient of V_0 does not depend on V_3 (their interaction gets no direct evidence); on a
    mix of the two rows it does, through the term λ(1−λ)·<V_0, V_3>."""
    data = Tensors(torch.tensor([[0, 2], [1, 3]]), torch.ones(2, 2), torch.tensor([1.0, 0.0]))
    mixed = mix_pairs(data, Pairs(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.7])))

    def cross_derivative(rows: Tensors) -> torch.Tensor:
        """d/dV_3 of (dℓ/dV_0 summed over its components): nonzero iff V_0's update depends on V_3."""
        model = FactorizationMachine(4, 3, init_std=0.3)
        loss = F.binary_cross_entropy_with_logits(model(rows.ids, rows.values), rows.labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, model.table.weight, create_graph=True)
        (second,) = torch.autograd.grad(grad[0, 1:].sum(), model.table.weight)
        return second[3, 1:]

    torch.manual_seed(0)
    assert torch.count_nonzero(cross_derivative(data)) == 0
    torch.manual_seed(0)
    assert torch.count_nonzero(cross_derivative(mixed)) == 3
    assert set(mixed.ids[0][mixed.values[0] != 0].tolist()) == {0, 1, 2, 3}
