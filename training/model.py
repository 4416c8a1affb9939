"""Factorization machine over (feature id, feature value) slots, with one fused table.

logit = w0 + Σ_s w[id_s]·x_s + ½ Σ_k [(Σ_s x_s·V[id_s,k])² − Σ_s (x_s·V[id_s,k])²]

Row ``f`` of the table is ``[w_f, V_f]``: one gather per batch fetches both the linear weight and
the embedding, which is what the server does too (``contract.fm`` is the numpy twin).
Values are real numbers, so mixed samples (MixFM/SMFM) need no special case.
"""

from __future__ import annotations

import torch
from torch import nn


def fm_logit(rows: torch.Tensor, values: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Logits (B,) from gathered rows (B, M, K+1) and values (B, M)."""
    linear = (rows[..., 0] * values).sum(dim=1)  # (B,)
    xv = rows[..., 1:] * values.unsqueeze(-1)  # (B, M, K)
    summed = xv.sum(dim=1)  # (B, K)
    pairwise = 0.5 * (summed.pow(2) - xv.pow(2).sum(dim=1)).sum(dim=1)  # (B,)
    return bias + linear + pairwise


def fm_logit_by_matmul(rows: torch.Tensor, values: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """:func:`fm_logit` as two batched matrix products: the form exported to ONNX.

    ``values (B, 1, M) @ rows (B, M, K+1)`` gives [Σ x·w, S] and ``values² @ rows²`` the squares, so
    onnxruntime runs two MatMuls where the broadcast form runs a broadcast multiply and sums over the
    middle axis, its slow kernels: about half the time at batch 256 (docs/performance.md). Same
    values as :func:`fm_logit` up to float rounding (tests/training/test_model.py).
    """
    x = values.unsqueeze(1)  # (B, 1, M)
    summed = torch.matmul(x, rows).squeeze(1)  # (B, K+1): [Σ x·w, S]
    squares = torch.matmul(x * x, rows * rows).squeeze(1)  # (B, K+1): [Σ (x·w)², Σ (x·V)²]
    embedded = summed[:, 1:]  # (B, K)
    pairwise = 0.5 * (embedded * embedded - squares[:, 1:]).sum(dim=1)  # (B,)
    return bias + summed[:, 0] + pairwise


def fm_logit_and_penalty(
    rows: torch.Tensor, values: torch.Tensor, bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training form of :func:`fm_logit`: (logits (B,), L2 penalty Σ_s x_s²‖row_s‖² (scalar)).

    One product x_s·row_s over all K+1 columns serves the linear term, the interactions and the penalty
    (whose value-weighted form is exactly Σ (x_s·row_s)²), so the autograd graph has one multiply and
    one square where computing the logit and the penalty apart has three and two: ~20% less forward +
    backward time per batch (benchmarks/train_breakdown.py). Same values as :func:`fm_logit` up to float
    rounding (tests/training/test_model.py); the export uses :func:`fm_logit_by_matmul`.
    """
    xr = rows * values.unsqueeze(-1)  # (B, M, K+1): [x·w, x·V]
    summed = xr.sum(dim=1)  # (B, K+1): [Σ x·w, S]
    squares = xr.pow(2).sum(dim=1)  # (B, K+1): [Σ (x·w)², Σ (x·V)²]
    pairwise = 0.5 * (summed[:, 1:].pow(2).sum(dim=1) - squares[:, 1:].sum(dim=1))  # (B,)
    return bias + summed[:, 0] + pairwise, squares.sum()


class FactorizationMachine(nn.Module):
    """FM returning logits; the sigmoid is added once, in the export wrapper (:class:`Scorer`)."""

    def __init__(self, num_features: int, dim: int, sparse: bool = False, init_std: float = 0.01) -> None:
        super().__init__()
        self.num_features = num_features
        self.dim = dim
        self.table = nn.Embedding(num_features, dim + 1, sparse=sparse)  # column 0 = linear weight
        self.bias = nn.Parameter(torch.zeros(()))
        with torch.no_grad():
            self.table.weight.normal_(0.0, init_std)
            self.table.weight[:, 0] = 0.0

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Gathered table rows (..., K+1) for ids (...).

        Dense tables use ``index_select``: its backward is one ``index_add_``, ~1.6x faster per training
        epoch on CPU than ``nn.Embedding``'s ``embedding_dense_backward`` (benchmarks/paper_repro.py).
        Sparse tables keep the embedding lookup, whose gradient is the sparse one SparseAdam needs.
        """
        if self.table.sparse:
            return self.table(ids)
        return self.table.weight.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)

    def forward(self, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return fm_logit(self.rows(ids), values, self.bias)


class Scorer(nn.Module):
    """What goes to ONNX: the FM on rows gathered by the caller, so embeddings can live in any store."""

    def __init__(self, bias: float) -> None:
        super().__init__()
        self.register_buffer("bias", torch.tensor(float(bias), dtype=torch.float32))

    def forward(self, rows: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit = fm_logit_by_matmul(rows, values, self.bias)
        return torch.sigmoid(logit), logit
