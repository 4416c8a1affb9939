"""Our FM against FM from torchfm 0.7.0 and deepctr-torch 0.3.0, interleaved in one process.

Runs in the peers' own venv (benchmarks/peers/setup.sh); benchmarks/paper_repro.py `peers` exports the
data (MovieLens-100k, time split, one-hot fields only) and calls this script. Same rows, split, seeds,
threads, batch 2048, embedding 16, one learning rate (--lr), at most 50 epochs with early stopping on
validation AUC (patience 3); test AUC of the best-validation epoch. Each peer keeps its own
regularisation defaults (torchfm example: Adam weight decay 1e-6; deepctr: L2 1e-5 on embeddings
and linear weights); ours is TrainConfig with the L2 and learning rate tuned on validation (--l2, --lr).

Throughput = training rows / seconds of the epoch's training pass (evaluation excluded), median over
epochs 2.. (the first epoch includes warm-up, and for torch.compile the compilation).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contract.metrics import auc, log_loss  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.tensors import Tensors  # noqa: E402
from training.train import predict, train  # noqa: E402

BATCH, DIM, EPOCHS, PATIENCE = 2048, 16, 50, 3


def load(path: Path) -> tuple[dict[str, Tensors], np.ndarray, np.ndarray]:
    z = np.load(path)
    parts = {
        p: Tensors(*(torch.from_numpy(z[f"{p}_{k}"]) for k in ("ids", "values", "labels")))
        for p in ("train", "validation", "test")
    }
    return parts, z["offsets"], z["sizes"]


def early_stopping(fit_epoch, score) -> dict:
    """Drive an implementation: ``fit_epoch()`` trains one epoch, ``score(part)`` returns probabilities."""
    best, best_epoch, stale, seconds, best_test = -1.0, 0, 0, [], None
    for epoch in range(1, EPOCHS + 1):
        started = time.perf_counter()
        fit_epoch()
        seconds.append(time.perf_counter() - started)
        val = auc(*score("validation"))
        if val > best:
            best, best_epoch, stale, best_test = val, epoch, 0, score("test")
        else:
            stale += 1
        if stale >= PATIENCE:
            break
    y, p = best_test
    return {"val_auc": best, "test_auc": auc(y, p), "test_logloss": log_loss(y, p), "best_epoch": best_epoch,
            "epoch_seconds": seconds}  # fmt: skip


def ours(parts: dict[str, Tensors], seed: int, threads: int, lr: float, l2: float, compile: bool = False) -> dict:
    config = TrainConfig(dim=DIM, lr=lr, l2=l2, batch_size=BATCH, epochs=EPOCHS, patience=PATIENCE, seed=seed,
                         threads=threads, compile=compile)  # fmt: skip
    result = train(config, parts["train"], parts["validation"], int(parts["train"].ids.max()) + 1, progress=False)
    y, p = parts["test"].labels.numpy(), predict(result.model, parts["test"])
    return {"val_auc": result.best_validation["auc"], "test_auc": auc(y, p), "test_logloss": log_loss(y, p),
            "best_epoch": result.best_epoch, "epoch_seconds": [h["seconds"] for h in result.history]}  # fmt: skip


def torchfm_fm(
    parts: dict[str, Tensors], offsets: np.ndarray, sizes: np.ndarray, seed: int, lr: float, loader: bool = False
) -> dict:
    """torchfm's FactorizationMachineModel with its example's optimiser (Adam, weight decay 1e-6) and BCELoss,
    fed by the same whole-tensor loop as ours (a permutation gather per epoch, contiguous batches), or with
    ``loader`` by a shuffling DataLoader over a TensorDataset, as torchfm's example trains."""
    from torchfm.model.fm import FactorizationMachineModel

    torch.manual_seed(seed)
    local = {k: t.ids - torch.from_numpy(offsets) for k, t in parts.items()}  # torchfm adds its own offsets
    model = FactorizationMachineModel(sizes.tolist(), DIM)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = local["train"], parts["train"].labels

    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_all, y_all), batch_size=BATCH, shuffle=True, generator=gen
    )

    def fit_epoch() -> None:
        model.train()
        if loader:
            pairs = iter(batches)
        else:
            order = torch.randperm(len(y_all), generator=gen)
            x, y = x_all[order], y_all[order]
            pairs = ((x[s : s + BATCH], y[s : s + BATCH]) for s in range(0, len(y), BATCH))
        for xb, yb in pairs:
            loss = F.binary_cross_entropy(model(xb), yb)
            model.zero_grad()
            loss.backward()
            opt.step()

    def score(part: str) -> tuple[np.ndarray, np.ndarray]:
        model.eval()
        with torch.no_grad():
            return parts[part].labels.numpy(), model(local[part]).double().numpy()

    return early_stopping(fit_epoch, score)


def deepctr_fm(parts: dict[str, Tensors], offsets: np.ndarray, sizes: np.ndarray, seed: int, lr: float) -> dict:
    """deepctr-torch's FM: DeepFM with no DNN layers (linear + FM), trained by its own ``fit``."""
    # deepctr_torch checks PyPI for a newer version in a thread at import; keep the benchmark offline.
    sys.modules.setdefault("requests", types.SimpleNamespace(get=_offline))
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import DeepFM

    torch.manual_seed(seed)
    names = [f"f{i}" for i in range(len(sizes))]
    columns = [SparseFeat(n, vocabulary_size=int(s), embedding_dim=DIM) for n, s in zip(names, sizes, strict=True)]
    inputs = {k: {n: (t.ids[:, i] - int(offsets[i])).numpy() for i, n in enumerate(names)} for k, t in parts.items()}
    model = DeepFM(columns, columns, dnn_hidden_units=(), seed=seed, device="cpu")
    model.compile(torch.optim.Adam(model.parameters(), lr=lr), "binary_crossentropy")
    y_train = parts["train"].labels.numpy()

    def fit_epoch() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # fit prints the device and sizes every call
            model.fit(inputs["train"], y_train, batch_size=BATCH, epochs=1, verbose=0)

    def score(part: str) -> tuple[np.ndarray, np.ndarray]:
        return parts[part].labels.numpy(), model.predict(inputs[part], batch_size=65536).reshape(-1).astype(np.float64)

    return early_stopping(fit_epoch, score)


def _offline(*args, **kwargs):
    raise OSError("network disabled in the benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3, help="learning rate of every implementation")
    parser.add_argument("--l2", type=float, default=1e-4, help="our FM's L2 (tuned on validation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts, offsets, sizes = load(args.data)
    impls = {
        "ours": lambda s: ours(parts, s, args.threads, args.lr, args.l2),
        "ours + torch.compile": lambda s: ours(parts, s, args.threads, args.lr, args.l2, compile=True),
        "torchfm 0.7.0": lambda s: torchfm_fm(parts, offsets, sizes, s, args.lr),
        "torchfm 0.7.0, DataLoader loop": lambda s: torchfm_fm(parts, offsets, sizes, s, args.lr, loader=True),
        "deepctr-torch 0.3.0": lambda s: deepctr_fm(parts, offsets, sizes, s, args.lr),
    }
    runs = []
    for seed in range(args.seeds):  # interleaved: every implementation once per seed, in turn
        for name, fn in impls.items():
            started = time.perf_counter()
            record = {"implementation": name, "seed": seed, **fn(seed)}
            seconds = record["epoch_seconds"]
            steady = seconds[1:] or seconds
            record["samples_per_s"] = len(parts["train"]) / float(np.median(steady))
            record["first_epoch_seconds"] = seconds[0]
            record["wall_seconds"] = time.perf_counter() - started
            print(f"{name:22s} seed {seed}: test AUC {record['test_auc']:.4f}, "
                  f"{record['samples_per_s']:,.0f} samples/s", file=sys.stderr)  # fmt: skip
            runs.append(record)
    import os

    meta = {"threads": args.threads, "batch_size": BATCH, "dim": DIM, "lr": args.lr, "our_l2": args.l2,
            "torch": torch.__version__, "max_epochs": EPOCHS, "patience": PATIENCE,
            "train_rows": len(parts["train"]), "cpus": os.cpu_count(), "load_average_1m_at_end": os.getloadavg()[0],
            "when": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
