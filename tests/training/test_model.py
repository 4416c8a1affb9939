import itertools

import numpy as np
import pytest
import torch

from contract.fm import fm_logit as numpy_fm_logit
from training.model import FactorizationMachine, fm_logit, fm_logit_and_penalty, fm_logit_by_matmul


def brute_force_logit(rows, values, bias):
    """w0 + Σ w_s x_s + Σ_{s<t} <v_s, v_t> x_s x_t, one pair at a time."""
    out = []
    for r, x in zip(rows, values, strict=True):
        total = bias + float((r[:, 0] * x).sum())
        for s, t in itertools.combinations(range(len(x)), 2):
            total += float(r[s, 1:] @ r[t, 1:]) * float(x[s]) * float(x[t])
        out.append(total)
    return np.array(out)


def test_fm_identity_matches_pairwise_sum():
    gen = torch.Generator().manual_seed(0)
    rows = torch.randn(5, 7, 4, generator=gen, dtype=torch.float64)
    values = torch.rand(5, 7, generator=gen, dtype=torch.float64)
    values[:, 5:] = 0  # padding slots contribute nothing
    expected = brute_force_logit(rows.numpy(), values.numpy(), 0.3)
    np.testing.assert_allclose(fm_logit(rows, values, torch.tensor(0.3, dtype=torch.float64)).numpy(), expected,
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(numpy_fm_logit(rows.numpy(), values.numpy(), 0.3), expected, rtol=1e-12)
    exported_form = fm_logit_by_matmul(rows, values, torch.tensor(0.3, dtype=torch.float64))
    np.testing.assert_allclose(exported_form.numpy(), expected, rtol=1e-12)


def test_training_form_gives_the_same_logit_and_the_value_weighted_penalty():
    gen = torch.Generator().manual_seed(1)
    rows = torch.randn(6, 5, 4, generator=gen, dtype=torch.float64)
    values = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    values[:, 3:] = 0
    bias = torch.tensor(-0.2, dtype=torch.float64)
    logits, penalty = fm_logit_and_penalty(rows, values, bias)
    torch.testing.assert_close(logits, fm_logit(rows, values, bias), rtol=1e-12, atol=1e-12)
    expected = sum(float(x) ** 2 * float(r @ r) for rs, xs in zip(rows, values, strict=True)
                   for r, x in zip(rs, xs, strict=True))  # fmt: skip
    assert float(penalty) == pytest.approx(expected, rel=1e-12)


def test_model_gathers_from_one_fused_table():
    model = FactorizationMachine(num_features=10, dim=3)
    assert model.table.weight.shape == (10, 4)
    assert torch.all(model.table.weight[:, 0] == 0)  # linear weights start at zero
    ids = torch.tensor([[1, 4, 9]])
    values = torch.tensor([[1.0, 0.5, 2.0]])
    rows = model.table.weight[ids].detach().numpy()
    expected = brute_force_logit(rows, values.numpy(), 0.0)
    np.testing.assert_allclose(model(ids, values).detach().numpy(), expected, rtol=1e-5)


def test_real_valued_inputs_scale_terms():
    """Mixed samples carry λ and 1-λ: the interaction of two slots must scale with both values."""
    model = FactorizationMachine(num_features=4, dim=2, init_std=1.0)
    ids = torch.tensor([[0, 1]])
    with torch.no_grad():
        full = float(model(ids, torch.tensor([[1.0, 1.0]])))
        scaled = float(model(ids, torch.tensor([[0.7, 0.3]])))
        w = model.table.weight
        pair = float(w[0, 1:] @ w[1, 1:])
    assert full == pytest.approx(pair, abs=1e-6)  # linear weights are 0 at init
    assert scaled == pytest.approx(0.21 * pair, abs=1e-6)
