"""One night: read the window, train a candidate, judge both models on the holdout, promote through the gate.

Steps (each timed in the report): read -> train -> evaluate -> (gate) -> export -> publish -> activate.
The run holds ``<model_dir>/.retrain.lock`` (flock: released by the kernel if the process dies), so a
second run is refused. Nothing half-done is ever visible: the artifact appears by an atomic rename
(``contract.artifact``), a Redis version only with its manifest, written last (``app.stores.publish``),
and the active pointers move last, after the same checks a server applies (``app.versions.registry``).
A run killed at any step therefore leaves the active version serving.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.settings import Settings
from app.stores.publish import publish
from app.stores.redis_client import connect
from app.versions import registry
from contract.artifact import ArtifactError, load_artifact
from contract.encoding import FeatureEncoder
from contract.registry import INCOMPLETE_PREFIX, active_version
from contract.schema import load_schema
from retrain.config import RetrainConfig
from retrain.evaluate import holdout_metrics
from retrain.gate import decide
from retrain.outcome import RunReport, push
from retrain.window import window_for
from training.pipeline import METRICS_LOG, prepare
from training.train import train

log = logging.getLogger("retrain")
LOCK_FILE = ".retrain.lock"
STALE_SECONDS = 3600  # an .incomplete- directory older than this is a killed export's leftover


class Locked(RuntimeError):
    """Another run of the job holds the model's lock."""


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(f"{path} is held by another run (pid in the file: {path.read_text().strip()})") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Candidate:
    """The night's trained model, promoted or not (for callers that judge it further, e.g. the replay)."""

    encoder: FeatureEncoder
    table: np.ndarray  # (V, K+1)
    bias: float


def run(config: RetrainConfig, run_date: dt.date, progress: bool = False) -> RunReport:
    """The whole night under the lock; the report is written and the metrics pushed whatever happens."""
    return run_with_candidate(config, run_date, progress)[0]


def run_with_candidate(
    config: RetrainConfig, run_date: dt.date, progress: bool = False
) -> tuple[RunReport, Candidate | None]:
    """:func:`run`, also returning the trained candidate (None when the run failed before training it)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = RunReport(f"{run_date.isoformat()}-{stamp}-{secrets.token_hex(2)}", config.model, run_date.isoformat(),
                       time.time())  # fmt: skip
    with exclusive_lock(config.model_dir / LOCK_FILE):
        _remove_stale_exports(config.model_dir)
        candidate = None
        try:
            candidate = _steps(config, run_date, report, progress)
        except Exception as exc:  # any failure: the active version stays; the report says why
            report.outcome, report.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("run failed: %s", report.error, exc_info=not isinstance(exc, ArtifactError | ValueError),
                      extra={"run_id": report.run_id})  # fmt: skip
        finally:
            report.finished_at = time.time()
            report.write(config.model_dir)
            for problem in push(report, config.metrics.pushgateway, config.metrics.textfile):
                log.warning("metrics not delivered: %s", problem, extra={"run_id": report.run_id})
    return report, candidate


@contextmanager
def _step(name: str, report: RunReport) -> Iterator[None]:
    log.info("%s ...", name, extra={"run_id": report.run_id, "step": name})
    started = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[name] = round(time.perf_counter() - started, 3)


def _steps(config: RetrainConfig, run_date: dt.date, report: RunReport, progress: bool) -> Candidate:
    with _step("read", report):
        window = window_for(config.data, run_date)
        report.window = window.describe()
        schema = load_schema(config.data.schema)
        prepared = prepare(schema, window.paths(config.data.path), split="given")
        rows = prepared.split.describe()["rows"]
        report.rows = {"train": rows["train"], "validation": rows["validation"], "holdout": rows["test"]}

    with _step("train", report), tempfile.TemporaryDirectory() as tmp:
        metrics_log = Path(tmp) / METRICS_LOG
        result = train(config.training, prepared.train, prepared.validation, prepared.encoder.num_features,
                       metrics_log, progress)  # fmt: skip
        epochs = metrics_log.read_bytes()

    with _step("evaluate", report):
        holdout = prepared.split.test
        columns = {name: column[holdout] for name, column in prepared.table.items()}
        labels = prepared.test.labels.numpy().astype(np.float64)
        table = result.model.table.weight.detach().numpy()
        bias = float(result.model.bias.detach())
        report.candidate = holdout_metrics(prepared.encoder, table, bias, columns, labels)
        candidate = Candidate(prepared.encoder, table, bias)
        report.active_version = active_version(config.model_dir)
        if report.active_version is not None:
            active = load_artifact(config.model_dir, report.active_version)
            report.active = holdout_metrics(active.encoder, active.table, active.bias, columns, labels)
        decision = decide(config.gate, report.candidate, report.active, len(labels))
        report.reasons = list(decision.reasons)
    if not decision.promote:
        report.outcome = "rejected"
        log.warning("candidate rejected by the gate", extra={"run_id": report.run_id, "reasons": report.reasons})
        return candidate

    with _step("export", report):
        from training.export import export_artifact

        version_dir = export_artifact(
            result.model, prepared.encoder, config.models_dir, config.model, check_rows=prepared.test,
            reference_rows=prepared.validation,
            manifest_extra={
                "dataset": {"name": schema.name, "schema": schema.to_dict(), "data": str(config.data.path)},
                "split": prepared.split.describe(),
                "metrics": {"validation": result.best_validation, "best_epoch": result.best_epoch,
                            "epochs_run": len(result.history)},
                "training": config.training.to_dict(),
                "retrain": {"run_id": report.run_id, "run_date": report.run_date, "window": report.window,
                            "holdout": report.candidate, "active_version": report.active_version,
                            "active_holdout": report.active},
            },
            extra_files={METRICS_LOG: epochs},
            activate=False,
        )  # fmt: skip
        report.candidate_version = version_dir.name
        if schema.candidate_id is not None:  # its candidate catalog, before it is published or activated
            from training.catalog import catalog_records, training_rows, write_version_catalog

            records = catalog_records(schema, prepared.table, training_rows(prepared.split))
            report.catalog = write_version_catalog(version_dir, records, schema.candidate_id,
                                                   source={"retrain_run": report.run_id})  # fmt: skip

    with _step("publish", report):
        if config.publish.redis_url:
            report.published = asyncio.run(_publish(config, version_dir))

    with _step("activate", report):
        asyncio.run(_activate(config, version_dir.name, report))
    report.outcome = "promoted"
    return candidate


def _redis_settings(config: RetrainConfig) -> Settings:
    assert config.publish.redis_url is not None
    return Settings(store="redis", redis_url=config.publish.redis_url, redis_model=config.model)


async def _publish(config: RetrainConfig, version_dir: Path) -> dict[str, Any]:
    settings = _redis_settings(config)
    client = connect(settings)
    try:
        result = await publish(client, settings.redis_address, version_dir, model=config.model,
                               shards=config.publish.shards, keep=config.publish.keep, activate=False,
                               progress=False)  # fmt: skip
    finally:
        await client.aclose()
    return {"redis": settings.redis_address, "features": result.features, "bytes": result.bytes}


async def _activate(config: RetrainConfig, version: str, report: RunReport) -> None:
    """Redis first (the replicas' truth), then the directory (the job's own record); both checked first."""
    reason = f"run {report.run_id}: holdout AUC {report.candidate['auc']:.4f}" if report.candidate else ""
    targets = []
    if config.publish.redis_url:
        targets.append(registry.open_registry(_redis_settings(config), None, redis=True))
    targets.append(registry.open_registry(Settings(store="memory"), config.model_dir, redis=False))
    for target in targets:
        try:
            await registry.promote(target, version, "retrain", reason)
        finally:
            await target.close()


def _remove_stale_exports(model_dir: Path) -> None:
    """Leftovers of exports killed midway (never visible to loaders; only disk space)."""
    for path in model_dir.glob(f"{INCOMPLETE_PREFIX}*"):
        if time.time() - path.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
            log.info("removed %s, left by an interrupted export", path.name)
