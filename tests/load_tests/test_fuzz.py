"""The schemathesis run (load_tests/fuzz.py) over the tiny model as deployed: every operation, positive and
negative examples, both fronts, zero 5xx, every answer as documented, every 4xx in the one error body."""

from __future__ import annotations

import json

import pytest

from load_tests import fuzz

OPERATIONS = {"GET /healthz", "GET /metrics", "GET /readyz", "GET /v1/model", "POST /v1/feedback", "POST /v1/rank",
              "POST /v1/score"}  # fmt: skip


def assert_clean(summary: dict) -> None:
    assert summary["server_errors"] == 0, summary["defects"]
    assert summary["non_conforming_4xx"] == 0, summary["defects"]
    assert all(summary["checks"].values()), summary["defects"]
    assert summary["unhandled_exceptions"] == {}


def test_every_operation_is_fuzzed_with_valid_and_invalid_data(tiny_catalog_artifact, tmp_path):
    summary = fuzz.run(tiny_catalog_artifact, tmp_path, examples=25)
    assert_clean(summary)
    assert set(summary["operations"]) >= OPERATIONS
    assert {f"POST {p} (raw bodies)" for p in ("/v1/score", "/v1/rank", "/v1/feedback")} <= set(summary["operations"])
    assert summary["fronts"] == ["hot_path", "fastapi_routes"]
    for label in ("POST /v1/score", "POST /v1/rank", "POST /v1/feedback"):
        assert summary["examples"][label] >= 2 * 2 * 20  # two modes, two fronts (a few may repeat)
    by_mode = summary["status_counts_by_mode"]
    assert int(by_mode["positive"].get("200", 0)) > summary["examples_by_mode"]["positive"] / 3  # reaches scoring
    assert summary["bad_inputs_tried"] == summary["examples_by_mode"]["negative"] + summary["examples_by_mode"]["raw"]
    assert set(by_mode["negative"]) <= {"200", "400", "413", "422"} and by_mode["negative"].get("422")
    assert list((tmp_path / "impressions-front").rglob("*.jsonl*")), "the impression log took no rows"
    json.dumps(summary)  # JSON-able, for reports/reliability.json


def test_a_server_error_is_found_and_reported(tiny_catalog_artifact, tmp_path, monkeypatch):
    """The run must be able to fail: a handler that raises on some bodies shows up as 5xx and a defect."""
    import app.http.handlers as handlers

    real = handlers.parse_feedback

    def fragile(body: bytes, max_events: int, now: float):
        if b"events" in body:
            raise TypeError("planted bug")
        return real(body, max_events, now)

    monkeypatch.setattr(handlers, "parse_feedback", fragile)
    summary = fuzz.run(tiny_catalog_artifact, tmp_path, examples=30, fronts=(True,))
    assert summary["server_errors"] > 0 and summary["checks"]["not_a_server_error"] is False
    assert any(d["operation"].startswith("POST /v1/feedback") and d["check"] == "not_a_server_error"
               for d in summary["defects"])  # fmt: skip
    assert any("planted bug" in kind for kind in summary["unhandled_exceptions"])


def test_the_command_line_writes_its_summary(tiny_catalog_artifact, tmp_path, capsys):
    out = tmp_path / "fuzz.json"
    code = fuzz.main(["--artifact", str(tiny_catalog_artifact), "--examples", "3", "--hot-path-only",
                      "--workdir", str(tmp_path / "work"), "--out", str(out)])  # fmt: skip
    assert code == 0
    written = json.loads(out.read_text())
    assert written["fronts"] == ["hot_path"] and written["examples_total"] > 0
    assert json.loads(capsys.readouterr().out) == written


@pytest.mark.slow
def test_thousands_of_examples_find_no_5xx(tiny_catalog_artifact, tmp_path):
    summary = fuzz.run(tiny_catalog_artifact, tmp_path, examples=1000, run_seed=1)
    assert_clean(summary)
    assert summary["examples_total"] > 10_000
