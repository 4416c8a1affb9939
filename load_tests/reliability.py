"""The reliability report: fuzzing, abusive clients, faults under load and a soak, from one command.

    python -m load_tests.reliability --artifact models/ml100k --out reports/reliability.json
    python -m load_tests.reliability --only faults,soak --soak-seconds 600

Runs, in turn, each part that is asked for (``--only``; default all) and writes the JSON (every
result as the part returned it) and a markdown summary beside it (``.md``, plus ``.png``: the soak's
RSS, descriptors and event-loop lag over time):

* ``fuzz``   — ``load_tests.fuzz.run(artifact, workdir, examples)``: schemathesis against every endpoint;
* ``abuse``  — ``load_tests.abuse.run_all(artifact, workdir)``: slow and abusive clients, SIGTERM drain;
* ``faults`` — ``load_tests.faults.run_all(artifact, workdir)``: a worker SIGKILLed, Redis killed and
  slowed, the impression log's disk full, each under traffic;
* ``soak``   — ``load_tests.soak.run(artifact, workdir, seconds)``: a steady half load, leaks and lost rows.

A part whose module is not there is recorded as "not run: module missing"; a part that raises is
recorded as "failed" with the exception, and the others still run. Exit status 0 only when every
part ran and every check of every result passed. Every server, Redis and tmpfs is started by the
parts themselves on loopback ports in a temporary directory (``--workdir`` to keep it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load_tests.reliability_report import markdown, plot_soak, result_name

PARTS: dict[str, tuple[str, Callable[[Any, Path, Path, argparse.Namespace], Any]]] = {
    "fuzz": ("load_tests.fuzz", lambda m, artifact, work, a: m.run(artifact, work, a.fuzz_examples)),
    "abuse": ("load_tests.abuse", lambda m, artifact, work, a: m.run_all(artifact, work)),
    "faults": ("load_tests.faults", lambda m, artifact, work, a: m.run_all(artifact, work)),
    "soak": ("load_tests.soak", lambda m, artifact, work, a: m.run(artifact, work, a.soak_seconds, a.soak_rate)),
}


def run_part(name: str, artifact: Path, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One part: its results (always a list of dicts), or why it did not run."""
    module_name, call = PARTS[name]
    if importlib.util.find_spec(module_name) is None:
        return {"part": name, "module": module_name, "status": "not run: module missing", "results": []}
    started = time.perf_counter()
    directory = workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    try:
        out = call(importlib.import_module(module_name), artifact, directory, args)
    except Exception as exc:  # one broken part must not hide the others' results
        return {"part": name, "module": module_name, "status": f"failed: {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5), "results": [],
                "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    results = out if isinstance(out, list) else [out]
    return {"part": name, "module": module_name, "status": "ran", "results": results,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def error_count(result: dict[str, Any]) -> int | None:
    """Errors of a result, whether a part reports a number or statuses by kind (every non-200 counts)."""
    errors = result.get("errors", result.get("server_errors"))
    if isinstance(errors, dict):
        return sum(int(n) for status, n in errors.items() if str(status) != "200")
    return None if errors is None else int(errors)


def summarise(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures over every part: requests, errors, faults, recoveries, inputs, rows, checks."""
    rows = []
    for part in parts:
        for r in part["results"]:
            checks = r.get("checks", {})
            rows.append({
                "part": part["part"], "name": result_name(part["part"], r),
                "requests_sent": r.get("requests_sent", r.get("examples_total")), "errors": error_count(r),
                "fault_injected": bool(r.get("fault")), "fault_injected_at_s": r.get("fault_injected_at_s"),
                "recovery_s": r.get("recovery_s"), "bad_inputs_tried": r.get("bad_inputs_tried"),
                "rows_received": r.get("rows_received", r.get("rows_answered_200")),
                "rows_logged": r.get("rows_logged"),
                "rows_dropped": r.get("rows_dropped"), "skipped": r.get("skipped"),
                "checks_passed": sum(bool(v) for v in checks.values()), "checks_total": len(checks),
                "failed_checks": sorted(k for k, v in checks.items() if not v),
            })  # fmt: skip
    total = sum(r["checks_total"] for r in rows)
    return {
        "requests_sent": sum(r["requests_sent"] or 0 for r in rows),
        "errors": sum(r["errors"] or 0 for r in rows),
        "faults_injected": sum(r["fault_injected"] and not r["skipped"] for r in rows),
        "bad_inputs_tried": sum(r["bad_inputs_tried"] or 0 for r in rows),
        "checks_passed": sum(r["checks_passed"] for r in rows),
        "checks_total": total,
        "parts_not_run": {p["part"]: p["status"] for p in parts if p["status"] != "ran"},
        "all_ran_and_passed": all(p["status"] == "ran" for p in parts)
        and all(not r["failed_checks"] and not r["skipped"] for r in rows),
        "runs": rows,
    }


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": list(os.getloadavg())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.reliability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--artifact", type=Path, default=Path("models/ml100k"), help="model or version directory")
    parser.add_argument("--out", type=Path, default=Path("reports/reliability.json"), help=".md and .png beside it")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run (of {','.join(PARTS)})")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="length of the soak (default 60)")
    parser.add_argument("--soak-rate", type=float, help="soak requests/s (default: half the closed-loop maximum)")
    parser.add_argument("--fuzz-examples", type=int, default=100, help="fuzz examples per operation and mode")
    parser.add_argument("--workdir", type=Path, help="keep servers' files here (default: a temporary directory)")
    parser.add_argument("--render", action="store_true", help="only redraw .md and .png from --out (no runs)")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.out.read_text())
        report["summary"] = summarise(report["parts"])  # the summary follows this module's reading of the parts
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        return write_renderings(report, args.out)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    report = build(args, only, argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return write_renderings(report, args.out)


def write_renderings(report: dict[str, Any], out: Path) -> int:
    """The markdown and the soak's plot beside ``out``; the exit status the report deserves."""
    png = plot_soak(report, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(markdown(report, png))
    print(f"wrote {out} and {out.with_suffix('.md')}" + (f" and {png}" if png else ""))
    return 0 if report["summary"]["all_ran_and_passed"] else 1


def build(args: argparse.Namespace, only: list[str], argv: list[str]) -> dict[str, Any]:
    """Run the parts in ``only`` (in PARTS order) and assemble the report."""
    started, load_before = dt.datetime.now(dt.UTC), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ctr-reliability-") as tmp:
        workdir = args.workdir or Path(tmp)
        parts = [run_part(name, args.artifact, workdir, args) for name in PARTS if name in only]
    return {
        "command": " ".join(["python -m load_tests.reliability", *argv]),
        "created_at": started.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "artifact": str(args.artifact),
        "machine": {**machine(), "load_average_before": list(load_before)},
        "parts_requested": only,
        "summary": summarise(parts),
        "parts": parts,
    }


if __name__ == "__main__":
    sys.exit(main())
