"""A throw-away monitoring stack on loopback ports: Prometheus, a Pushgateway, and what they are checked with.

Used by tests/deploy/test_prometheus_stack.py (every dashboard query and alert expression against a
real Prometheus scraping a live 2-worker server) and by load_tests/dashboard_snapshot.py (the
rendered panels in the README). Both binaries are Debian's (``apt-get install prometheus
prometheus-pushgateway``; scripts/lib.sh installs them when missing). Each process runs in the
foreground on a free port in its own directory and is stopped by its own pid.

The Prometheus configuration is deploy/prometheus/prometheus.yml itself, with only what cannot
work here replaced: each job's targets (compose DNS names -> loopback addresses), the intervals
(1 s instead of 15 s, so a short test sees many scrapes) and the rule file's path.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from load_tests.server import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
ALERT_RULES = ROOT / "deploy/prometheus/alerts.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/ctr-serving.json"
PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")


class _Process:
    """One foreground process on a loopback port, ready when ``ready_path`` answers 200."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> _Process:
        log = (self.workdir / "process.log").open("wb")
        self.process = subprocess.Popen(self.command(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command()[0]} exited: {(self.workdir / 'process.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command()[0]} on {self.url} not ready within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.process = None


class Pushgateway(_Process):
    def command(self) -> list[str]:
        return [PUSHGATEWAY or "prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{self.port}"]


class Prometheus(_Process):
    """deploy/prometheus/prometheus.yml with loopback targets (``targets``: job name -> addresses)."""

    def __init__(self, workdir: Path, targets: dict[str, list[str]], interval: str = "1s") -> None:
        super().__init__(workdir)
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        if set(targets) != jobs:
            raise ValueError(f"targets for {sorted(targets)}, the deployed config scrapes {sorted(jobs)}")
        config["global"].update(scrape_interval=interval, evaluation_interval=interval)
        shutil.copy(ALERT_RULES, workdir / "alerts.yml")
        config["rule_files"] = [str(workdir / "alerts.yml")]
        for job in config["scrape_configs"]:
            for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
                del job[key]
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def command(self) -> list[str]:
        return [PROMETHEUS or "prometheus", f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}"]  # fmt: skip

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; returns ``data`` or raises with Prometheus' error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PromQLError(f"{params.get('query', path)}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]


class PromQLError(RuntimeError):
    """Prometheus refused or failed a query."""


def push_sample_retrain_metrics(pushgateway_url: str, model: str, outcome: str = "promoted") -> None:
    """Push the metrics of a sample nightly run, through the job's own pusher (retrain/outcome.py)."""
    from retrain.outcome import RunReport, push

    now = time.time()
    report = RunReport(run_id="sample", model=model, run_date=time.strftime("%Y-%m-%d"), started_at=now - 60,
                       outcome=outcome, rows={"train": 80_000, "holdout": 3_000},
                       candidate={"auc": 0.705, "logloss": 0.61, "ece": 0.02},
                       active={"auc": 0.702, "logloss": 0.62, "ece": 0.03})  # fmt: skip
    report.seconds = {"read": 2.1, "train": 41.0, "evaluate": 3.2, "export": 1.4, "publish": 6.5, "activate": 0.3}
    report.finished_at = now
    problems = push(report, pushgateway_url, None)
    if problems:
        raise RuntimeError(f"pushing the sample run failed: {problems}")


# -- what the dashboard and the rules ask Prometheus ---------------------------------------------
def dashboard_queries(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel of a dashboard JSON."""
    return [(title, expr) for title, expr, _ in dashboard_targets(path)]


def dashboard_targets(path: Path = DASHBOARD) -> list[tuple[str, str, str]]:
    """(panel title, PromQL, legend format) of every target of every panel of a dashboard JSON."""
    out = []
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    return out


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend: ``{{label}}`` replaced by the series' label values (``__auto``: all of them)."""
    if template in ("", "__auto"):
        return " ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def alert_expressions(path: Path = ALERT_RULES) -> list[tuple[str, str]]:
    """(alert name, expression) of every alerting rule."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return [(rule["alert"], " ".join(rule["expr"].split())) for g in groups for rule in g["rules"] if "alert" in rule]


_COMPARISON = re.compile(r"\s(>|<|>=|<=|==|!=)\s+([0-9.eE+\-*/ ]+)$")


def alert_signal(expr: str) -> str:
    """What an alert compares, as a query that has series whenever its inputs exist.

    ``x > 0.01`` becomes ``x > bool 0.01`` (0 or 1 per series of x); ``absent(x)`` becomes ``x``.
    """
    if expr.startswith("absent(") and expr.endswith(")"):
        return expr[len("absent(") : -1]
    match = _COMPARISON.search(expr)
    if match is None:
        raise ValueError(f"alert expression is not '<signal> <comparison> <threshold>': {expr}")
    return f"{expr[: match.start()]} {match.group(1)} bool {match.group(2)}"


def grafana_to_promql(expr: str, rate_interval: str) -> str:
    """Replace Grafana's own variables (only ``$__rate_interval`` is used) by a fixed window."""
    out = expr.replace("$__rate_interval", rate_interval)
    if "$" in out:
        raise ValueError(f"unsubstituted Grafana variable in {expr}")
    return out
