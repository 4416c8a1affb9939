"""The one-command reliability report (load_tests/reliability.py): what it runs, records and summarises."""

from __future__ import annotations

import json

import pytest

from load_tests import reliability

STUB = [{"fault": "stub_fault", "requests_sent": 10, "errors": {"200": 7, "503": 3}, "fault_injected_at_s": 1.0,
         "recovery_s": 0.25, "rows_received": 5, "rows_logged": 4, "rows_dropped": 1,
         "checks": {"kept_serving": True, "recovered": True}},
        {"scenario": "stub_abuse", "requests_sent": 20, "errors": 0, "bad_inputs_tried": 6,
         "checks": {"others_served": False}}]  # fmt: skip


def report_of(tmp_path, monkeypatch, parts, only):
    for name, entry in parts.items():
        monkeypatch.setitem(reliability.PARTS, name, entry)
    out = tmp_path / "reliability.json"
    status = reliability.main(["--artifact", str(tmp_path), "--out", str(out), "--only", only])
    return status, json.loads(out.read_text()), out.with_suffix(".md").read_text()


def test_a_missing_module_is_recorded_as_not_run_and_a_failing_part_does_not_hide_the_others(tmp_path, monkeypatch):
    def explode(*_):
        raise RuntimeError("server did not start")

    parts = {"ghost": ("load_tests.no_such_module", lambda *_: []),
             "stub": ("load_tests.faults", lambda *_: STUB),  # any importable module: the call is the stub
             "broken": ("load_tests.faults", explode)}  # fmt: skip
    status, report, md = report_of(tmp_path, monkeypatch, parts, "ghost,stub,broken")
    assert status == 1  # a part did not run, one failed, a check failed
    by_part = {p["part"]: p for p in report["parts"]}
    assert by_part["ghost"]["status"] == "not run: module missing" and by_part["ghost"]["results"] == []
    assert by_part["broken"]["status"] == "failed: RuntimeError: server did not start"
    assert by_part["stub"]["status"] == "ran" and by_part["stub"]["results"] == STUB
    summary = report["summary"]
    assert (summary["requests_sent"], summary["errors"], summary["faults_injected"]) == (30, 3, 1)
    assert (summary["bad_inputs_tried"], summary["checks_passed"], summary["checks_total"]) == (6, 2, 3)
    assert summary["parts_not_run"] == {"ghost": "not run: module missing",
                                        "broken": "failed: RuntimeError: server did not start"}  # fmt: skip
    assert "| ghost (`load_tests.no_such_module`) | not run: module missing |" in md
    assert "| stub | stub_fault | 10 | 3 | 1.00 | 0.250 | — | 2/2 |" in md
    assert "failed: others_served" in md and "- **FAIL** — stub / stub_abuse / others_served" in md
    assert "| stub_fault | 5 | 4 | 1 | yes |" in md  # rows logged + dropped == received


def test_all_passing_parts_exit_0_and_unknown_parts_are_refused(tmp_path, monkeypatch):
    status, report, _ = report_of(tmp_path, monkeypatch, {"stub": ("load_tests.faults", lambda *_: STUB[:1])}, "stub")
    assert status == 0 and report["summary"]["all_ran_and_passed"]
    assert report["command"].startswith("python -m load_tests.reliability --artifact")
    with pytest.raises(SystemExit):
        reliability.main(["--only", "faults,nonsense"])


def test_render_redraws_the_markdown_from_the_json_and_reads_rows_answered(tmp_path, monkeypatch):
    drained = {"scenario": "sigterm", "requests_sent": 3, "errors": {"200": 3}, "rows_answered_200": 9,
               "rows_logged": 9, "checks": {"zero_failed": True}}  # fmt: skip
    report_of(tmp_path, monkeypatch, {"stub": ("load_tests.faults", lambda *_: [drained])}, "stub")
    out = tmp_path / "reliability.json"
    out.with_suffix(".md").unlink()
    assert reliability.main(["--out", str(out), "--render"]) == 0
    assert "| sigterm | 9 | 9 | — | yes |" in out.with_suffix(".md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_real_command_runs_faults_and_a_soak(artifact_path, tmp_path):
    out = tmp_path / "reliability.json"
    status = reliability.main(["--artifact", str(artifact_path), "--out", str(out), "--only", "faults,soak",
                               "--soak-seconds", "30", "--soak-rate", "150"])  # fmt: skip
    report = json.loads(out.read_text())
    assert [p["status"] for p in report["parts"]] == ["ran", "ran"]
    assert status == 0, report["summary"]
    assert report["summary"]["faults_injected"] == 4 and out.with_suffix(".png").exists()
