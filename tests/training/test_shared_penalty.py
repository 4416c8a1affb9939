"""The explicit shared-feature penalty (``--shared-penalty``, issue 22) against the two-slot form it restates."""

import pytest
import torch
import torch.nn.functional as F

from tests.training.test_augment import random_model, rows_with_overlap, some_pairs
from training.augment import Pairs, concat, epoch_data, mix_pairs, pad_slots
from training.config import TrainConfig
from training.tensors import Tensors
from training.train import batch_objective


def self_interaction(model, rows: Tensors) -> torch.Tensor:
    """Σ_s shared_s·‖v_s‖² per row, in float64: the penalty's per-row term at μ = 1."""
    v = model.table.weight.detach().double()[:, 1:]
    return (rows.shared.double() * v.pow(2).sum(1)[rows.ids]).sum(1)


def test_penalty_term_is_the_two_slot_logit_minus_the_merged_logit():
    """Per row, the tracked weights reproduce exactly what the code's two slots add to the logit."""
    data, model = rows_with_overlap(), random_model()
    pairs = some_pairs(len(data))
    merged, two_slot = mix_pairs(data, pairs, True, track_shared=True), mix_pairs(data, pairs, False)
    with torch.no_grad():
        excess = model(two_slot.ids, two_slot.values).double() - model(merged.ids, merged.values).double()
    assert (excess.abs() > 1e-3).sum() > 10  # the fixture shares features in many mixes
    torch.testing.assert_close(self_interaction(model, merged), excess, rtol=1e-4, atol=1e-5)
    # Only first-parent slots of shared features carry weight; the second half is all zero.
    assert torch.equal(merged.shared[:, 5:], torch.zeros(len(data), 5))
    assert torch.all((merged.shared > 0) <= (merged.values != 0))


def test_no_shared_feature_means_no_penalty():
    data = Tensors(torch.tensor([[0, 3], [1, 4]]), torch.ones(2, 2), torch.tensor([1.0, 0.0]))
    mixed = mix_pairs(data, Pairs(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.7])), track_shared=True)
    assert torch.equal(mixed.shared, torch.zeros(1, 4))
    both = mix_pairs(data, Pairs(torch.tensor([0]), torch.tensor([0]), torch.tensor([0.7])), track_shared=True)
    torch.testing.assert_close(both.shared[0, :2], torch.full((2,), 0.7 * 0.3))  # λ(1−λ)·1·1 per shared feature


def test_objective_adds_mu_times_the_mean_self_interaction():
    data, model = rows_with_overlap(), random_model()
    rows = concat(mix_pairs(data, some_pairs(len(data)), True, track_shared=True), pad_slots(data))
    loss, plain = batch_objective(model, rows.ids, rows.values, rows.labels, 0.1)
    _, penalised = batch_objective(model, rows.ids, rows.values, rows.labels, 0.1, rows.shared, 0.5)
    expected = 0.5 * self_interaction(model, rows).sum() / len(rows)
    torch.testing.assert_close((penalised - plain).double(), expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(model(rows.ids, rows.values), rows.labels))


def test_penalty_gradient_is_the_two_slot_gradient_at_residual_mu():
    """First order: two slots change ∂ℓ/∂v_f by r·2λ(1−λ)·a·b·v_f (r = σ(logit) − ỹ); the penalty by
    μ·2λ(1−λ)·a·b·v_f. On one mix, with the label set so that r = μ, the two gradients agree when
    the self-interaction is small (a tiny model)."""
    data = Tensors(torch.tensor([[0, 3], [0, 4]]), torch.ones(2, 2), torch.tensor([1.0, 0.0]))
    pairs = Pairs(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.7]))
    model = random_model()
    with torch.no_grad():
        model.table.weight.mul_(1e-3)  # δ ≈ 0: σ(logit + δ) ≈ σ(logit)
    merged, two_slot = mix_pairs(data, pairs, True, track_shared=True), mix_pairs(data, pairs, False)
    mu = 0.3
    with torch.no_grad():
        label = torch.sigmoid(model(merged.ids, merged.values)) - mu  # makes r = μ
    grads = []
    for rows, shared in ((two_slot, None), (merged, merged.shared)):
        model.zero_grad()
        weight = mu if shared is not None else 0.0
        _, objective = batch_objective(model, rows.ids, rows.values, label, 0.0, shared, weight)
        objective.backward()
        grads.append(model.table.weight.grad[0, 1:].clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-9)


def test_epoch_data_carries_the_weights_for_mixes_only():
    data = rows_with_overlap()
    for augment in ("mixfm", "smfm"):
        config = TrainConfig(augment=augment, candidates=3, shared_penalty=0.1)
        out = epoch_data(config, data, random_model(), torch.Generator().manual_seed(0))
        assert out.shared is not None and out.shared.shape == out.values.shape
        assert torch.equal(out.shared[len(data) :], torch.zeros(len(data), 10))  # the originals share nothing
        assert out.shared[: len(data)].sum() > 0
        shuffled = out.take(torch.randperm(len(out)))
        assert shuffled.shared is not None and torch.isclose(shuffled.shared.sum(), out.shared.sum())
    assert epoch_data(TrainConfig(augment="mixfm"), data, random_model(), torch.Generator()).shared is None


@pytest.mark.parametrize(
    "settings", [{"augment": "none"}, {"augment": "copy"}, {"augment": "mixfm", "mix_merge": False}]
)
def test_penalty_needs_merged_mixing(settings):
    with pytest.raises(ValueError, match="shared_penalty"):
        TrainConfig(shared_penalty=0.1, **settings)


def test_two_slot_rows_cannot_track_weights():
    data = rows_with_overlap()
    with pytest.raises(ValueError, match="merged"):
        mix_pairs(data, some_pairs(len(data)), False, track_shared=True)
