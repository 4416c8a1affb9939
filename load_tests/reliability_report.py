"""Markdown and a plot of the reliability report (load_tests/reliability.py), from its JSON alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def result_name(part: str, result: dict[str, Any]) -> str:
    """How a part names one of its results (faults: ``fault``, abuse: ``scenario``)."""
    return str(result.get("fault") or result.get("scenario") or result.get("name") or part)


def _num(value: Any, fmt: str = ",.0f", missing: str = "—") -> str:
    if value is None:
        return missing
    return format(value, fmt) if isinstance(value, int | float) else str(value)


def markdown(report: dict[str, Any], png: Path | None = None) -> str:
    """The summary tables: one row per run, the rows the impression log accounted for, the soak, every check."""
    s, m = report["summary"], report["machine"]
    verdict = "every part ran and every check passed" if s["all_ran_and_passed"] else "**not all parts ran or passed**"
    lines = [
        "# Reliability: fuzzing, abusive clients, faults under load, soak",
        "",
        f"Written by `{report['command']}` on {report['created_at']} in {report['seconds']:.0f} s "
        f"(artifact `{report['artifact']}`); the JSON beside this file holds every result in full.",
        f"Machine: {m['cpus']} CPUs, Python {m['python']}, **shared with other jobs** (1-min load average "
        f"{m['load_average_before'][0]:.1f} before, {m['load_average'][0]:.1f} after).",
        "",
        f"**Totals**: {s['requests_sent']:,} requests sent, {s['errors']:,} not answered 200 (including the "
        f"errors a fault is expected to cause, classified per run below), {s['faults_injected']} faults injected, "
        f"{s['bad_inputs_tried']:,} bad inputs tried; {s['checks_passed']} of {s['checks_total']} checks passed: "
        f"{verdict}.",
        "",
        "## Parts",
        "",
        "| part | status | seconds |",
        "|---|---|---|",
    ]
    for part in report["parts"]:
        lines.append(f"| {part['part']} (`{part['module']}`) | {part['status']} | {_num(part.get('seconds'), '.0f')} |")
    lines += ["", "## Runs", "",
              "| part | run | requests sent | errors | fault at (s) | recovery (s) | bad inputs | checks |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in s["runs"]:
        checks = f"{r['checks_passed']}/{r['checks_total']}"
        if r["failed_checks"]:
            checks += " — failed: " + ", ".join(r["failed_checks"])
        if r["skipped"]:
            checks = f"skipped: {r['skipped']}"
        lines.append(f"| {r['part']} | {r['name']} | {_num(r['requests_sent'])} | {_num(r['errors'])} | "
                     f"{_num(r['fault_injected_at_s'], '.2f')} | {_num(r['recovery_s'], '.3f')} | "
                     f"{_num(r['bad_inputs_tried'])} | {checks} |")  # fmt: skip
    lines += _rows_section(s["runs"]) + _faults_section(report) + _soak_section(report, png) + _checks_section(report)
    return "\n".join(lines) + "\n"


def _rows_section(runs: list[dict[str, Any]]) -> list[str]:
    """Rows the impression log accounted for; "received" = scored rows, or rows answered 200 when a part
    reports only those (the SIGTERM drain)."""
    logged = [r for r in runs if r["rows_logged"] is not None]
    if not logged:
        return []
    out = ["", "## Impression log: rows logged vs rows received", "",
           "| run | rows received (scored, or answered 200) | rows logged | rows dropped (counted) | "
           "logged + dropped = received |", "|---|---|---|---|---|"]  # fmt: skip
    for r in logged:
        received = r["rows_received"]
        equal = received is not None and r["rows_logged"] + (r["rows_dropped"] or 0) == received
        out.append(f"| {r['name']} | {_num(received)} | {_num(r['rows_logged'])} | "
                   f"{_num(r['rows_dropped'])} | {'yes' if equal else '**no**'} |")  # fmt: skip
    return out


def _results(report: dict[str, Any], part: str) -> list[dict[str, Any]]:
    return [r for p in report["parts"] if p["part"] == part for r in p["results"]]


def _faults_section(report: dict[str, Any]) -> list[str]:
    out = []
    for r in _results(report, "faults"):
        if r.get("skipped") or r.get("error"):
            why = f"skipped — {r['skipped']}" if r.get("skipped") else f"failed — {r['error']}"
            out += [f"- **{r['fault']}**: {why}"]
            continue
        keys = (
            "fault_ended_at_s",
            "rows_in_files",
            "errors_by_kind",
            "time_to_restart_s",
            "time_to_ready_s",
            "time_to_serve_s",
            "first_success_after_fault_s",
            "during_outage",
            "max_latency_during_outage_ms",
            "during_slowdown",
            "p99_latency_during_slowdown_ms",
            "unexpected_answers",
        )
        detail = {k: r[k] for k in keys if k in r}
        text = "; ".join(f"{k} {_short(v)}" for k, v in detail.items())
        out += [f"- **{r['fault']}** ({r['what']}): {r['requests_sent']:,} requests, statuses {r['statuses']}; {text}"]
    return ["", "## Faults", "", *out] if out else []


def _short(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _soak_section(report: dict[str, Any], png: Path | None) -> list[str]:
    out = []
    for r in _results(report, "soak"):
        fds = r.get("open_fds_min_max_after_warmup")
        out += [
            f"- {r['seconds']:g} s at {r['rate']:,.0f} requests/s ({_rate_origin(r)}; achieved "
            f"{r['achieved_rps']:,.0f}), "
            f"{r['connections']} connections, sampled every {r['interval_s']:g} s, warm-up {r['warmup_s']:.0f} s; "
            f"server CPU {r.get('server_cpu')}, driver CPU {r.get('driver_cpu')}; 1-min load average "
            f"{' / '.join(f'{x:.1f}' for x in r.get('load_average_before_after', []))} before / after.",
            f"- RSS {' → '.join(f'{x:.1f}' for x in r['rss_mb_first_last'] or [])} MB (first → last sample); "
            "fitted slope after warm-up "
            f"{_num(r['rss_slope_mb_per_min'], '.3f')} MB/min (bound < {r['rss_bound_mb_per_min']:g} MB/min).",
            f"- Open descriptors {fds} (min, max after warm-up); fitted growth over the steady window "
            f"{_num(r['fds_fitted_growth_over_steady_window'], '.2f')} (bound < 1 descriptor).",
            f"- Event-loop lag: mean {_num(r['loop_lag_mean_ms'], '.2f')} ms over the run "
            f"(`ctr_event_loop_lag_seconds`); latency p50 {_num(r['latency_ms'].get('p50'), '.2f')} ms, "
            f"p99 {_num(r['latency_ms'].get('p99'), '.2f')} ms; errors {r['errors']} {r['statuses']}.",
        ]
    if not out:
        return []
    return ["", "## Soak", "", *out, *(["", f"![RSS, descriptors and lag over the soak]({png.name})"] if png else [])]


def _rate_origin(r: dict[str, Any]) -> str:
    if r.get("measured_max_rps") is None:
        return "the rate asked for"
    return f"half of a closed-loop maximum of {r['measured_max_rps']:,.0f} requests/s measured in the same run"


def _checks_section(report: dict[str, Any]) -> list[str]:
    out = ["", "## Every check", ""]
    for part in report["parts"]:
        for r in part["results"]:
            run = result_name(part["part"], r)
            out += [f"- {'pass' if ok else '**FAIL**'} — {part['part']} / {run} / {name}"
                    for name, ok in r.get("checks", {}).items()]  # fmt: skip
    return out


def plot_soak(report: dict[str, Any], path: Path) -> Path | None:
    """RSS, open descriptors and event-loop lag of the soak over time; None without a soak or matplotlib."""
    soaks = [r for r in _results(report, "soak") if r.get("samples")]
    if not soaks:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    samples = soaks[0]["samples"]
    t = [s["t_s"] for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    series = (
        ("rss_mb", "RSS (MB)"),
        ("open_fds", "open descriptors"),
        ("loop_lag_mean_ms", "event-loop lag, mean (ms)"),
    )
    for ax, (key, label) in zip(axes, series, strict=True):
        ax.plot(t, [s[key] if s[key] is not None else float("nan") for s in samples], marker=".")
        ax.set_ylabel(label)
        ax.axvline(soaks[0]["warmup_s"], color="grey", linestyle=":", linewidth=1)
    axes[-1].set_xlabel("seconds (dotted: end of warm-up)")
    fig.suptitle(f"Soak at {soaks[0]['rate']:,.0f} requests/s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
