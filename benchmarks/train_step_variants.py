"""Which training-loop choices pay on CPU: the evidence behind training/train.py's loop (issue 6).

Variants of one FM epoch (80,000 rows, 7 one-hot slots, 2,400 features, K = 16, batch 2048, 1 thread),
each changing one thing against the trainer's loop, interleaved and repeated; the best of the
repetitions is reported (the machine is shared, the minimum is the least disturbed figure):

- ``trainer``: what training/train.py does (run_epoch + batch_objective: one permutation gather per
  epoch, contiguous batch views, index_select gather, fused Adam, value-weighted L2)
- ``per-batch indexing``: index ids/values/labels with each batch's slice of the permutation
- ``nn.Embedding gather``: the embedding lookup (its backward is embedding_dense_backward)
- ``foreach Adam``: torch's default multi-tensor Adam instead of the fused kernel
- ``closed-form backward``: a custom autograd Function with the FM gradient written out

    .venv/bin/python benchmarks/train_step_variants.py      # writes reports/train_step_variants.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.config import TrainConfig  # noqa: E402
from training.model import FactorizationMachine, fm_logit  # noqa: E402
from training.tensors import Tensors  # noqa: E402
from training.train import run_epoch  # noqa: E402

N, M, V, B, K, L2 = 80_000, 7, 2_400, 2048, 16, 1e-2


class ClosedFormLogit(torch.autograd.Function):
    """FM interactions + linear term with the gradient w.r.t. the gathered rows written out."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        xv = rows[..., 1:] * values.unsqueeze(-1)
        s = xv.sum(1)
        ctx.save_for_backward(rows, values, s)
        return (rows[..., 0] * values).sum(1) + 0.5 * (s.pow(2).sum(1) - xv.pow(2).sum((1, 2)))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        rows, values, s = ctx.saved_tensors
        x = values.unsqueeze(-1)
        return torch.cat([x, x * (s.unsqueeze(1) - x * rows[..., 1:])], -1) * grad[:, None, None], None


def variant_epoch(name: str, model: FactorizationMachine, opt: torch.optim.Optimizer, data: Tensors) -> None:
    order = torch.randperm(N)
    if name != "per-batch indexing":
        data = data.take(order)
    for start in range(0, N, B):
        if name == "per-batch indexing":
            idx = order[start : start + B]
            ids, x, y = data.ids[idx], data.values[idx], data.labels[idx]
        else:
            ids, x, y = data.ids[start : start + B], data.values[start : start + B], data.labels[start : start + B]
        rows = model.table(ids) if name == "nn.Embedding gather" else model.rows(ids)
        if name == "closed-form backward":
            logits = model.bias + ClosedFormLogit.apply(rows, x)
        else:
            logits = fm_logit(rows, x, model.bias)
        loss = F.binary_cross_entropy_with_logits(logits, y) + L2 * (rows.pow(2).sum(-1) * x.pow(2)).sum() / len(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    data = Tensors(torch.randint(0, V, (N, M), generator=gen), torch.ones(N, M), torch.randint(0, 2, (N,)).float())
    names = ["trainer", "per-batch indexing", "nn.Embedding gather", "foreach Adam", "closed-form backward"]
    best = {n: float("inf") for n in names}
    config = TrainConfig(batch_size=B, l2=L2)
    for _ in range(int(os.environ.get("REPS", 6))):
        for name in names:
            torch.manual_seed(0)
            model = FactorizationMachine(V, K)
            fused = name != "foreach Adam"
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused, foreach=None if fused else True)
            for epoch in range(2):  # the first epoch warms up
                started = time.perf_counter()
                if name == "trainer":
                    run_epoch(model, [opt], data, config, gen)
                else:
                    variant_epoch(name, model, opt, data)
                if epoch:
                    best[name] = min(best[name], time.perf_counter() - started)
    result = {
        "rows": N, "slots": M, "features": V, "dim": K, "batch_size": B, "threads": 1,
        "samples_per_s": {n: N / s for n, s in best.items()},
        "vs_trainer": {n: best["trainer"] / s for n, s in best.items()},
        "load_average_1m_at_end": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M"),
    }  # fmt: skip
    (ROOT / "reports" / "train_step_variants.json").write_text(json.dumps(result, indent=1))
    for n in names:
        print(f"{n:22s} {result['samples_per_s'][n]:>12,.0f} samples/s  ({result['vs_trainer'][n]:.2f}x the trainer)")


if __name__ == "__main__":
    main()
