"""The training loop: Adam on the fused table, L2 on gathered rows, early stopping on validation AUC.

Data stay as whole tensors; mini-batches are slices of a ``randperm`` (a per-row DataLoader would
cap throughput far below the model's cost, see shared/perf-notes.md).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from contract.metrics import auc, log_loss
from training.augment import epoch_data
from training.config import TrainConfig
from training.model import FactorizationMachine, fm_logit_and_penalty
from training.tensors import Tensors

logger = logging.getLogger("training")
SPARSE_ABOVE = 100_000  # vocabulary rows above which sparse gradients + SparseAdam win
# Where an epoch's time goes, in order; each is logged per epoch as "<phase>_seconds" (docs/training_perf.md).
PHASES = ("mix", "saliency", "shuffle", "batch", "forward", "backward", "step", "metric", "eval")


@dataclass
class TrainResult:
    model: FactorizationMachine  # holding the best-validation weights
    best_epoch: int
    best_validation: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)


def predict(model: FactorizationMachine, data: Tensors, batch_size: int = 65536) -> np.ndarray:
    """Click probabilities for every row, in eval mode, without gradients."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            sl = slice(start, start + batch_size)
            out.append(torch.sigmoid(model(data.ids[sl], data.values[sl])))
    return torch.cat(out).numpy().astype(np.float64) if out else np.empty(0)


def evaluate(model: FactorizationMachine, data: Tensors) -> dict[str, float]:
    p = predict(model, data)
    y = data.labels.numpy()
    return {"auc": auc(y, p), "logloss": log_loss(y, p)}


def train(
    config: TrainConfig,
    train_data: Tensors,
    validation: Tensors,
    num_features: int,
    log_path: Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train an FM; return it with the weights of its best validation-AUC epoch."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    sparse = config.sparse if config.sparse is not None else num_features > SPARSE_ABOVE
    model = FactorizationMachine(num_features, config.dim, sparse=sparse, init_std=config.init_std)
    optimizers = make_optimizers(model, config.lr, sparse)
    schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=config.lr_decay) for o in optimizers]
    # Opt-in: compiling gather + FM + loss (and its backward) saves per-op overhead at a one-off compile cost.
    forward = torch.compile(batch_objective, dynamic=False) if config.compile else batch_objective

    stopping = EarlyStopping(model, config.patience, config.min_epochs)
    history: list[dict[str, Any]] = []
    log = log_path.open("w") if log_path else None
    bar = tqdm(range(1, config.epochs + 1), desc="epochs", unit="epoch", disable=None if progress else True, leave=True)
    try:
        for epoch in bar:
            phases: dict[str, float] = {}
            started = time.perf_counter()
            model.eval()
            data = epoch_data(config, train_data, model, generator, phases)
            model.train()
            loss, step_phases = run_epoch(model, optimizers, data, config, generator, forward)
            for scheduler in schedulers:
                scheduler.step()
            train_seconds = time.perf_counter() - started
            metrics = evaluate(model, validation)
            epoch_seconds = time.perf_counter() - started
            phases |= step_phases
            phases["eval"] = epoch_seconds - train_seconds
            record = {
                "epoch": epoch,
                "train_loss": loss,
                "val_auc": metrics["auc"],
                "val_logloss": metrics["logloss"],
                "rows": len(data),
                "seconds": round(train_seconds, 6),  # augmentation + training, without the validation pass
                "epoch_seconds": round(epoch_seconds, 6),  # everything, the validation pass included
                "augment_seconds": round(phases["mix"] + phases["saliency"], 6),
                "samples_per_s": round(len(data) / max(train_seconds, 1e-9), 1),
                **{f"{phase}_seconds": round(phases[phase], 6) for phase in PHASES},
            }
            record["best"] = stopping.record(epoch, metrics)
            history.append(record)
            if log:
                log.write(json.dumps(record) + "\n")
                log.flush()
            if on_epoch:
                on_epoch(record)
            bar.set_postfix(loss=f"{loss:.4f}", val_auc=f"{metrics['auc']:.4f}", best=stopping.best_epoch)
            if progress and bar.disable:  # no terminal for a bar (a log file, a CronJob): one log line per epoch
                fields = {"epoch": epoch, "val_auc": metrics["auc"], "train_loss": loss}
                logger.info("epoch %d: loss %.4f, validation AUC %.4f (best epoch %d)", epoch, loss, metrics["auc"],
                            stopping.best_epoch, extra=fields)  # fmt: skip
            if stopping.should_stop(epoch):
                break
    finally:
        bar.close()
        if log:
            log.close()
    stopping.restore_best()
    return TrainResult(model=model, best_epoch=stopping.best_epoch, best_validation=stopping.best_validation,
                       history=history)  # fmt: skip


Forward = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def run_epoch(
    model: FactorizationMachine,
    optimizers: list[torch.optim.Optimizer],
    data: Tensors,
    config: TrainConfig,
    generator: torch.Generator,
    forward: Forward | None = None,
) -> tuple[float, dict[str, float]]:
    """One pass over ``data`` in shuffled mini-batches: (mean training loss, seconds per phase).

    The rows are permuted once (one gather of the whole epoch) and batches are contiguous views:
    indexing every batch with its own slice of the permutation cost ~40% of the epoch at small M.
    Phases: "shuffle" (the permutation gather), "batch" (slicing the views), "forward" (gather + logit +
    loss), "backward" (zero_grad + backward), "step" (optimizer), "metric" (the running loss sum, kept
    as a tensor: no per-step ``.item()``). Timing costs six clock reads per batch (~0.5 µs against
    ~1 ms of work).
    """
    forward = forward or batch_objective
    n, batch, clock = len(data), config.batch_size, time.perf_counter
    started = clock()
    data = data.take(torch.randperm(n, generator=generator))
    shuffled = clock()
    slicing = forwarding = backwarding = stepping = metering = 0.0
    total = torch.zeros((), dtype=torch.float64)
    for start in range(0, n, batch):
        t0 = clock()
        sl = slice(start, start + batch)
        ids, values, labels = data.ids[sl], data.values[sl], data.labels[sl]
        shared = data.shared[sl] if data.shared is not None else None
        t1 = clock()
        loss, objective = forward(model, ids, values, labels, config.l2, shared, config.shared_penalty)
        t2 = clock()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        objective.backward()
        t3 = clock()
        for opt in optimizers:
            opt.step()
        t4 = clock()
        total += loss * min(batch, n - start)
        t5 = clock()
        slicing += t1 - t0
        forwarding += t2 - t1
        backwarding += t3 - t2
        stepping += t4 - t3
        metering += t5 - t4
    phases = {"shuffle": shuffled - started, "batch": slicing, "forward": forwarding, "backward": backwarding,
              "step": stepping, "metric": metering}  # fmt: skip
    return float(total / n), phases


def batch_objective(
    model: FactorizationMachine,
    ids: torch.Tensor,
    values: torch.Tensor,
    labels: torch.Tensor,
    l2: float,
    shared: torch.Tensor | None = None,
    shared_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean data loss detached, objective) of a batch.

    L2 sits on the gathered rows weighted by the squared feature value, Σ_s x_s²‖row_s‖² / B: the same
    as plain L2 on gathered rows for one-hot slots (x = 1), nothing for padding (x = 0), and the
    authors' ``l2_loss(nonzero_embeddings)`` form for mixed rows (docs/smfm.md).
    ``shared`` (B, S) with ``shared_penalty`` μ adds μ·Σ_s shared_s·‖v_s‖² / B: the self-interaction the
    code's two slots put in the logit, as a penalty on merged rows (``Tensors.shared``, issue 22).
    """
    rows = model.rows(ids)  # (B, S, K+1)
    logits, penalty = fm_logit_and_penalty(rows, values, model.bias)  # (B,), scalar
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    objective = loss + l2 * penalty / len(labels) if l2 else loss
    if shared is not None and shared_penalty:
        objective = objective + shared_penalty * (shared * rows[..., 1:].pow(2).sum(-1)).sum() / len(labels)
    return loss.detach(), objective


def make_optimizers(model: FactorizationMachine, lr: float, sparse: bool) -> list[torch.optim.Optimizer]:
    """The optimizers of one training step: SparseAdam on a sparse table (+ Adam on the bias), else fused Adam."""
    if sparse:
        # SparseAdam only updates the rows a batch touched; the scalar bias needs a dense optimizer.
        return [torch.optim.SparseAdam([model.table.weight], lr=lr), torch.optim.Adam([model.bias], lr=lr)]
    # The fused CPU kernel updates the whole (small) table in one pass: ~5-10% faster per epoch.
    return [torch.optim.Adam(model.parameters(), lr=lr, fused=True)]


def snapshot(model: FactorizationMachine) -> dict[str, torch.Tensor]:
    """A copy of the model's weights (the best epoch's, restored at the end)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class EarlyStopping:
    """Keeps the weights of the best validation AUC so far; says when ``patience`` epochs brought nothing better."""

    def __init__(self, model: FactorizationMachine, patience: int, min_epochs: int) -> None:
        self.model, self.patience, self.min_epochs = model, patience, min_epochs
        self.best_auc, self.best_epoch, self.stale = -math.inf, 0, 0
        self.best_state = snapshot(model)
        self.best_validation: dict[str, float] = {}

    def record(self, epoch: int, validation: dict[str, float]) -> bool:
        """Note an epoch's validation metrics; True when it is the best so far (its weights are kept)."""
        if validation["auc"] > self.best_auc:
            self.best_auc, self.best_epoch, self.stale = validation["auc"], epoch, 0
            self.best_state, self.best_validation = snapshot(self.model), validation
            return True
        self.stale += 1
        return False

    def should_stop(self, epoch: int) -> bool:
        return self.stale >= self.patience and epoch >= self.min_epochs

    def restore_best(self) -> None:
        """Put the best epoch's weights back into the model, in evaluation mode."""
        self.model.load_state_dict(self.best_state)
        self.model.eval()
