"""One training run of the study as a cached, resumable job: (dataset, method, seed, settings) -> JSON."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

METHODS = {"fm": "none", "copyfm": "copy", "mixfm": "mixfm", "smfm": "smfm"}


@dataclass(frozen=True)
class Job:
    """A training run; ``settings`` are TrainConfig overrides (l2, lr, dim, mix_alpha, ...)."""

    dataset: str
    method: str
    seed: int
    settings: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    stage: str = "main"

    @classmethod
    def make(cls, dataset: str, method: str, seed: int, stage: str = "main", **settings: Any) -> Job:
        return cls(dataset, method, seed, tuple(sorted(settings.items())), stage)

    @property
    def key(self) -> str:
        from training.experiments.datasets import fingerprint

        parts: list[Any] = [self.dataset, self.method, self.seed, self.settings]
        if fingerprint(self.dataset):  # a changed schema invalidates its cached runs
            parts.append(fingerprint(self.dataset))
        text = json.dumps(parts)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"{self.stage}-{self.dataset}-{self.method}-s{self.seed}-{digest}"


def run_job(job: Job, cache: Path, threads: int = 1) -> dict[str, Any]:
    """Train, evaluate on validation and test, and write the result to ``cache/<key>.json`` atomically."""
    import torch

    from contract.metrics import auc, calibration, log_loss
    from training.config import PRESETS
    from training.experiments.datasets import load
    from training.experiments.mechanism import norms_by_frequency
    from training.train import predict, train

    torch.set_num_threads(threads)
    data = load(job.dataset)
    settings = dict(job.settings)
    config = PRESETS["default"].replace(augment=METHODS[job.method], seed=job.seed, threads=threads, **settings)
    started = time.perf_counter()
    result = train(config, data.train, data.validation, data.num_features, progress=False)
    wall = time.perf_counter() - started
    p = predict(result.model, data.test)
    y = data.test.labels.numpy()
    calib = calibration(y, p)
    record: dict[str, Any] = {
        "key": job.key, "stage": job.stage, "dataset": job.dataset, "method": job.method, "seed": job.seed,
        "settings": dict(job.settings), "config": config.to_dict(),
        "validation": result.best_validation,
        "test": {"auc": auc(y, p), "logloss": log_loss(y, p), "ece": calib["ece"]},
        "calibration": calib, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
        "wall_seconds": wall, "per_epoch": _per_epoch(result.history),
        "norms": norms_by_frequency(result.model, data.train),  # by training-count bin (issue 22)
    }  # fmt: skip
    if data.test_cross is not None:
        for part, mask in (("test_cross", data.test_cross), ("test_in_group", ~data.test_cross)):
            record[part] = {"auc": auc(y[mask], p[mask]), "logloss": log_loss(y[mask], p[mask])}
    if job.seed == 0:  # kept for the mechanism diagnostics (benchmarks/smfm_slots.py); written before the JSON
        torch.save(result.model.state_dict(), cache / f"{job.key}.pt")
    path = cache / f"{job.key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return record


def run_all(jobs: Iterable[Job], cache: Path, workers: int = 1, threads: int = 1, desc: str = "runs") -> list[dict]:
    """Run the jobs whose result is not cached yet (in ``workers`` processes); return all results."""
    cache.mkdir(parents=True, exist_ok=True)
    jobs = list(dict.fromkeys(jobs))
    todo = [j for j in jobs if not (cache / f"{j.key}.json").exists()]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="run")
    try:
        if workers <= 1:
            for job in todo:
                bar.set_postfix_str(f"{job.dataset}/{job.method}/s{job.seed}")
                run_job(job, cache, threads)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(run_job, job, cache, threads): job for job in todo}
                for future in as_completed(futures):
                    future.result()
                    job = futures[future]
                    bar.set_postfix_str(f"{job.dataset}/{job.method}/s{job.seed}")
                    bar.update()
    finally:
        bar.close()
    return [load_result(cache, j) for j in jobs]


def load_result(cache: Path, job: Job) -> dict[str, Any]:
    return json.loads((cache / f"{job.key}.json").read_text())


def _per_epoch(history: list[dict[str, Any]]) -> dict[str, float]:
    """Mean per-epoch cost of a run (rows, seconds, and each phase)."""
    keys = ["rows", "seconds", "augment_seconds", "shuffle_seconds", "forward_seconds", "backward_seconds",
            "step_seconds", "saliency_seconds", "eval_seconds"]  # fmt: skip
    return {k: float(np.mean([h[k] for h in history])) for k in keys if all(k in h for h in history)}
