"""deploy/prometheus and deploy/grafana: promtool's checks, the alert unit tests, and the generated dashboard."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy/prometheus"
GRAFANA = ROOT / "deploy/grafana"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing (scripts/test.sh installs prometheus)")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PROMTOOL or "promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@needs_promtool
def test_promtool_check_config_passes(tmp_path):
    # the config names the rule file where the compose stack mounts it; check it beside a copy
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = ["alerts.yml"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(PROM / "alerts.yml", tmp_path / "alerts.yml")
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=tmp_path).stdout


@needs_promtool
def test_promtool_check_rules_and_alert_unit_tests_pass():
    assert "SUCCESS: 11 rules found" in promtool("check", "rules", "alerts.yml", cwd=PROM).stdout
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml", cwd=PROM).stdout


def test_committed_dashboard_is_what_the_generator_builds(tmp_path):
    out = tmp_path / "dashboard.json"
    subprocess.run([sys.executable, str(GRAFANA / "build_dashboard.py"), str(out)], check=True, capture_output=True)
    assert out.read_text() == (GRAFANA / "dashboards/ctr-serving.json").read_text(), (
        "run `python deploy/grafana/build_dashboard.py` and commit the result"
    )


def test_dashboard_uses_the_provisioned_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    dashboard = json.loads((GRAFANA / "dashboards/ctr-serving.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert uids == {datasource["uid"]}
    titles = [p["title"] for p in dashboard["panels"]]
    assert len(titles) == len(set(titles)), "panel titles are unique"
