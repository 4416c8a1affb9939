"""What a run leaves behind: its report (JSON next to the model, and printed) and its Prometheus metrics.

Metrics go to a Pushgateway (``[metrics] pushgateway``, job ``ctr_retrain``, grouping key ``model``)
and/or a node_exporter textfile (``[metrics] textfile``). A failed run does not touch
``ctr_retrain_last_success_timestamp_seconds``: the gateway keeps it (metrics are added, not
replaced, by name), and the textfile's previous value is carried over.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway
from prometheus_client.parser import text_string_to_metric_families

OUTCOMES = ("promoted", "rejected", "failed")
STEPS = ("read", "train", "evaluate", "export", "publish", "activate")
EXIT_CODES = {"promoted": 0, "failed": 1, "rejected": 3}
LAST_SUCCESS = "ctr_retrain_last_success_timestamp_seconds"


@dataclass
class RunReport:
    run_id: str
    model: str
    run_date: str
    started_at: float
    outcome: str = "failed"
    reasons: list[str] = field(default_factory=list)
    window: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    candidate: dict[str, float] | None = None
    active: dict[str, float] | None = None
    active_version: str | None = None
    candidate_version: str | None = None
    published: dict[str, Any] | None = None
    catalog: dict[str, Any] | None = None  # the candidate catalog written with the candidate (schema candidate_id)
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, model_dir: Path) -> Path:
        """``<model_dir>/runs/<run_id>.json``, written atomically."""
        runs = model_dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        target = runs / f"{self.run_id}.json"
        tmp = runs / f".{self.run_id}.json.tmp"
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        os.replace(tmp, target)
        return target

    def summary(self) -> str:
        """The report for a person reading the job's output."""
        lines = [f"ctr retrain {self.model} for {self.run_date}: {self.outcome.upper()}"]
        for part, (first, last) in self.window.items():
            lines.append(f"  {part:<10} {first} .. {last}  {self.rows.get(part, 0):>8,} rows")
        for name, metrics, version in (("candidate", self.candidate, self.candidate_version),
                                       ("active", self.active, self.active_version)):  # fmt: skip
            if metrics:
                lines.append(f"  {name:<10} AUC {metrics['auc']:.4f}  log loss {metrics['logloss']:.4f}  "
                             f"ECE {metrics['ece']:.4f}  {version or ''}")  # fmt: skip
        lines += [f"  {reason}" for reason in self.reasons]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        return "\n".join(lines)


def metrics_registry(report: RunReport) -> CollectorRegistry:
    """The run's outcome as the metrics the dashboards and alerts read (deploy/prometheus)."""
    registry = CollectorRegistry()
    finished = report.finished_at or report.started_at
    Gauge("ctr_retrain_last_run_timestamp_seconds", "When the last nightly run ended", registry=registry).set(finished)
    if report.outcome != "failed":
        Gauge(LAST_SUCCESS, "When the last run that did not fail ended", registry=registry).set(finished)
    outcome = Gauge("ctr_retrain_outcome", "1 for the last run's outcome", ["outcome"], registry=registry)
    for name in OUTCOMES:
        outcome.labels(name).set(1 if name == report.outcome else 0)
    steps = Gauge("ctr_retrain_step_duration_seconds", "Seconds per step of the last run", ["step"], registry=registry)
    for step in STEPS:
        steps.labels(step).set(report.seconds.get(step, 0.0))
    aucs = Gauge("ctr_retrain_auc", "Holdout AUC of the last run's models", ["which"], registry=registry)
    for which, metrics in (("candidate", report.candidate), ("active", report.active)):
        if metrics:
            aucs.labels(which).set(metrics["auc"])
    rows = Gauge("ctr_retrain_rows", "Rows of the last run by part", ["part"], registry=registry)
    for part in ("train", "holdout"):
        rows.labels(part).set(report.rows.get(part, 0))
    return registry


def push(report: RunReport, gateway: str | None, textfile: Path | None) -> list[str]:
    """Send the metrics where configured; returns problems (a metrics outage must not fail the job)."""
    registry, problems = metrics_registry(report), []
    if gateway:
        try:
            pushadd_to_gateway(gateway, job="ctr_retrain", registry=registry, grouping_key={"model": report.model},
                               timeout=10)  # fmt: skip
        except OSError as exc:
            problems.append(f"pushgateway {gateway}: {exc}")
    if textfile:
        try:
            _write_textfile(textfile, registry, report.outcome == "failed")
        except OSError as exc:
            problems.append(f"textfile {textfile}: {exc}")
    return problems


def _write_textfile(path: Path, registry: CollectorRegistry, keep_last_success: bool) -> None:
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    if keep_last_success and path.is_file():
        for family in text_string_to_metric_families(path.read_text()):
            if family.name == LAST_SUCCESS and family.samples:
                text += (f"# HELP {LAST_SUCCESS} When the last run that did not fail ended\n"
                         f"# TYPE {LAST_SUCCESS} gauge\n{LAST_SUCCESS} {family.samples[0].value}\n")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # node_exporter must never read half a file
    tmp.write_text(text)
    os.replace(tmp, path)
