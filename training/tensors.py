"""Encoded rows as torch tensors: what the pipeline builds, the trainer and augmentations consume,
and the exporter's parity check scores."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tensors:
    """Encoded rows: ids (N, M) int64, values (N, M) float32, labels (N,) float32 (soft when mixed).

    ``shared`` (N, M) float32, only when ``--shared-penalty`` asks for it: on a merged mixed row,
    λ(1−λ)·a·b at the slot of each feature both parents hold (values a and b), 0 elsewhere — the
    weight of the self-interaction λ(1−λ)·a·b·‖v_f‖² that the code's two slots would add to the logit.
    """

    ids: torch.Tensor
    values: torch.Tensor
    labels: torch.Tensor
    shared: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def take(self, index: torch.Tensor) -> Tensors:
        """The rows at ``index`` (a permutation, a subset or repeats).

        ``index_select``, not ``ids[index]``: on CPU the advanced-indexing kernel is ~15x slower for the
        int64 ids (12 ms against 0.8 ms for 80k × 13; benchmarks/train_breakdown.py, issue 6).
        """
        shared = None if self.shared is None else self.shared.index_select(0, index)
        return Tensors(*(t.index_select(0, index) for t in (self.ids, self.values, self.labels)), shared)
