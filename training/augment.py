"""Per-epoch training data: the original rows, optionally augmented (MixFM, SMFM, CopyFM).

Augmentations are pure functions of the training tensors, the current model and a generator; the
training loop calls :func:`epoch_data` once per epoch and slices mini-batches from what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.config import TrainConfig
from training.model import FactorizationMachine


@dataclass(frozen=True)
class Tensors:
    """Encoded rows: ids (N, M) int64, values (N, M) float32, labels (N,) float32 (soft when mixed)."""

    ids: torch.Tensor
    values: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def epoch_data(config: TrainConfig, data: Tensors, model: FactorizationMachine, generator: torch.Generator) -> Tensors:
    """The rows one epoch trains on."""
    if config.augment == "none":
        return data
    raise ValueError(f"unknown augmentation {config.augment!r}")
