"""Training configuration: a frozen dataclass, named presets, overridable from the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

AUGMENTATIONS = ("none", "copy", "mixfm", "smfm")
SALIENCY_MODES = ("signed", "grad_input", "abs")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in the manifest, so a run can be repeated)."""

    # Defaults tuned on MovieLens-100k's validation split (time split), see README "Results".
    dim: int = 16  # embedding size K
    lr: float = 1e-2
    batch_size: int = 1024
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    patience: int = 3  # stop after this many epochs without a better validation AUC
    min_epochs: int = 1  # never stop before this epoch
    l2: float = 0.03  # on the rows gathered in each batch, weighted by value² (sum / batch size)
    lr_decay: float = 1.0  # multiplicative per epoch
    init_std: float = 0.01
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    sparse: bool | None = None  # sparse gradients + SparseAdam; None = auto (vocabulary > 100k rows)
    augment: str = "none"  # none | copy (CopyFM) | mixfm | smfm; see training/augment.py and docs/smfm.md
    mix_ratio: float = 1.0  # r: extra (mixed or copied) rows per epoch, as a fraction of the training rows
    mix_alpha: float = 0.5  # λ ~ Beta(α, α), folded into [0.5, 1]
    mix_merge: bool = True  # a feature in both parents gets one slot (the vector x̃); False = the code's two slots
    candidates: int = 10  # SMFM: random mixes scored per first parent
    saliency: str = "signed"  # SMFM: signed | grad_input | abs sum of ∂loss/∂values over active slots
    # μ of the explicit penalty μ·Σ λ(1−λ)·a·b·‖v_f‖² over the features both parents of a merged mix hold
    # (the code's two-slot self-interaction moved from the logit into the objective; docs/smfm.md, issue 22)
    shared_penalty: float = 0.0
    compile: bool = False  # torch.compile the training step (one-off compile cost; see benchmarks/)

    def __post_init__(self) -> None:
        checks = {
            "dim": self.dim >= 1,
            "lr": self.lr > 0,
            "batch_size": self.batch_size >= 1,
            "epochs": self.epochs >= 1,
            "patience": self.patience >= 1,
            "l2": self.l2 >= 0,
            "lr_decay": 0 < self.lr_decay <= 1,
            "threads": self.threads >= 0,
            "augment": self.augment in AUGMENTATIONS,
            "mix_ratio": self.mix_ratio > 0,
            "mix_alpha": self.mix_alpha > 0,
            "candidates": self.candidates >= 1,
            "saliency": self.saliency in SALIENCY_MODES,
            "shared_penalty": self.shared_penalty >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid training setting {name}={getattr(self, name)!r}")
        if self.shared_penalty and (self.augment not in ("mixfm", "smfm") or not self.mix_merge):
            # Two slots already carry the term (in the logit); without mixing nothing is shared.
            raise ValueError("shared_penalty applies to merged MixFM/SMFM rows only (augment mixfm|smfm, merging on)")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    # The released SMFM code's protocol (shared/paper-spec.md): Adam 1e-3, batch 256, K = 64, no L2,
    # at most 50 epochs, stop once validation AUC has not improved for 4 epochs after epoch 5.
    "paper": TrainConfig(dim=64, lr=1e-3, batch_size=256, epochs=50, patience=4, min_epochs=5, l2=0.0),
}
