"""The streamed training loop: one model replica per rank under DistributedDataParallel, batches read
from the rank's own shards, early stopping on the validation AUC all ranks agree on.

It reuses the in-memory trainer's pieces: the model (``training.model``), the objective and its L2 on
gathered rows (``training.train.batch_objective``), the optimizers (SparseAdam on a sparse table) and
the augmentations (``training.augment.epoch_data``, applied to each shuffle buffer). ``batch_size`` is
the *global* batch: each rank takes ``batch_size / world_size`` rows per step and DDP averages the
gradients, so a step sees the same number of rows whatever the number of processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from contract.encoding import FeatureEncoder
from contract.schema import DatasetSchema
from training.augment import epoch_data
from training.config import TrainConfig
from training.model import FactorizationMachine
from training.stream import distributed
from training.stream.batches import encoded_chunks, shuffled_shards, training_batches
from training.stream.distributed import Cluster
from training.stream.histogram import ScoreHistogram
from training.stream.shards import Shard
from training.tensors import Tensors
from training.train import EarlyStopping, batch_objective, make_optimizers


class Objective(nn.Module):
    """(mean loss, objective) of a batch as a module's forward: DistributedDataParallel must run the
    forward that builds the graph, to hook the gradient all-reduce into its backward."""

    def __init__(self, model: FactorizationMachine, l2: float) -> None:
        super().__init__()
        self.model = model
        self.l2 = l2

    def forward(
        self, ids: torch.Tensor, values: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return batch_objective(self.model, ids, values, labels, self.l2)


@dataclass
class Data:
    """What the loop reads: the schema, the fitted encoder, and this rank's shards of each part."""

    schema: DatasetSchema
    encoder: FeatureEncoder
    train: list[Shard]
    validation: list[Shard]
    chunk_rows: int
    buffer_rows: int


@dataclass
class LoopResult:
    model: FactorizationMachine  # holding the best-validation weights
    best_epoch: int
    best_validation: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)


def evaluate(model: FactorizationMachine, data: Data, shards: list[Shard], cluster: Cluster) -> ScoreHistogram:
    """Predictions on this rank's ``shards``, counted, then summed over ranks (every rank gets the total)."""
    histogram = ScoreHistogram()
    model.eval()
    with torch.no_grad():
        for chunk in encoded_chunks(data.schema, data.encoder, shards, data.chunk_rows):
            logits = model(chunk.ids.to(cluster.device), chunk.values.to(cluster.device))
            histogram.add(chunk.labels.numpy(), torch.sigmoid(logits).cpu().numpy())
    loss = np.array([histogram.loss_sum])
    histogram.positives, histogram.negatives, loss = distributed.sum_arrays(
        [histogram.positives, histogram.negatives, loss], cluster
    )
    histogram.loss_sum = float(loss[0])
    return histogram


def train_loop(
    config: TrainConfig,
    data: Data,
    cluster: Cluster,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> LoopResult:
    """Train with early stopping on the (all-reduced) validation AUC; every rank returns the same model."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)  # the same initial table on every rank (DDP broadcasts rank 0's anyway)
    sparse = config.sparse if config.sparse is not None else True
    model = FactorizationMachine(data.encoder.num_features, config.dim, sparse=sparse, init_std=config.init_std)
    model.to(cluster.device)
    step_module = distributed.wrap(Objective(model, config.l2), cluster)
    optimizers = make_optimizers(model, config.lr, sparse)
    schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=config.lr_decay) for o in optimizers]
    rank_batch = max(1, config.batch_size // cluster.world_size)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + cluster.rank)  # each rank: own order

    stopping = EarlyStopping(model, config.patience, config.min_epochs)
    history: list[dict[str, Any]] = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        record = _epoch(config, data, model, step_module, optimizers, rank_batch, generator, cluster)
        for scheduler in schedulers:
            scheduler.step()
        train_seconds = time.perf_counter() - started
        validation = evaluate(model, data, data.validation, cluster).summary()
        eval_seconds = time.perf_counter() - started - train_seconds
        record.update(epoch=epoch, val_auc=validation["auc"], val_logloss=validation["logloss"],
                      seconds=round(train_seconds, 3), eval_seconds=round(eval_seconds, 3),
                      samples_per_s=round(record["rows"] / max(train_seconds, 1e-9), 1))  # fmt: skip
        record["best"] = stopping.record(epoch, validation)
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if stopping.should_stop(epoch):
            break
    stopping.restore_best()
    return LoopResult(model, stopping.best_epoch, stopping.best_validation, history)


def _epoch(
    config: TrainConfig,
    data: Data,
    model: FactorizationMachine,
    step_module: nn.Module,
    optimizers: list[torch.optim.Optimizer],
    rank_batch: int,
    generator: torch.Generator,
    cluster: Cluster,
) -> dict[str, Any]:
    """One pass over this rank's shards; returns the epoch's (all-reduced) rows, loss and phase seconds."""
    timings = {"augment": 0.0}

    def augment(rows: Tensors) -> Tensors:
        return epoch_data(config, rows, model, generator)

    chunks = encoded_chunks(data.schema, data.encoder, shuffled_shards(data.train, generator), data.chunk_rows)
    batches = training_batches(
        chunks, data.buffer_rows, rank_batch, generator, augment if config.augment != "none" else None, timings
    )
    model.train()
    clock = time.perf_counter
    cpu_started = time.process_time()  # CPU seconds: steadier than wall time on a machine shared with other jobs
    waiting = agreeing = computing = 0.0
    total, rows, steps = torch.zeros((), dtype=torch.float64), 0, 0
    while True:
        t0 = clock()
        batch = next(batches, None)
        t1 = clock()
        go = distributed.all_have(batch is not None, cluster)
        t2 = clock()
        waiting, agreeing = waiting + t1 - t0, agreeing + t2 - t1
        if not go or batch is None:
            break
        ids, values, labels = (t.to(cluster.device) for t in (batch.ids, batch.values, batch.labels))
        loss, objective = step_module(ids, values, labels)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        objective.backward()  # DDP all-reduces the gradients here
        for opt in optimizers:
            opt.step()
        total += loss.detach().cpu() * len(labels)
        rows += len(labels)
        steps += 1
        # Drop this batch (a view of the shuffle buffer) before the next is fetched: held, it would keep
        # the whole old buffer alive while the next one fills, doubling the memory the buffer costs.
        batch = ids = values = labels = loss = objective = None
        computing += clock() - t2
    left_over = batch is not None  # another rank ran out first: this one stops too (its rest is skipped)
    cpu = time.process_time() - cpu_started
    local = np.array([float(total), rows, steps, int(left_over), cpu], dtype=np.float64)
    loss_sum, all_rows, all_steps, ranks_cut, all_cpu = distributed.sum_arrays([local], cluster)[0].tolist()
    return {
        "train_loss": loss_sum / max(all_rows, 1),
        "rows": int(all_rows),
        "steps_per_rank": int(all_steps) // cluster.world_size,
        "ranks_cut_short": int(ranks_cut),
        "cpu_seconds": round(all_cpu, 3),  # all ranks' CPU time in the epoch's training pass
        # rank 0's phases: reading + encoding + shuffling (minus augmenting), agreeing on a step, compute
        "data_seconds": round(waiting - timings["augment"], 3),
        "augment_seconds": round(timings["augment"], 3),
        "agree_seconds": round(agreeing, 3),
        "step_seconds": round(computing, 3),
    }
