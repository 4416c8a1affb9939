"""A month of nights: the nightly job replayed over consecutive days of MovieLens-100k (issue 17).

    python -m benchmarks.nightly --out reports/nightly.json          # ~5 min; writes .json, .md, .png

Each night D runs the real job (``retrain.job``, the config in ``deploy/retrain.toml`` with a private
model directory) on the daily partitions ``ctr replay`` writes, then scores day D itself — the day
after the data the night saw — with three policies, all starting from the first night's model:

* **gate**: what the job serves (the candidate only when it passed the gate);
* **always promote**: every night's candidate, gate or not;
* **never retrain**: the first night's model, forever.

Per night the report records the window, the candidate's and the active model's AUC on the holdout
the gate judged and on the next day, the decision and its reasons, and the next-day AUC of each policy.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from contract.artifact import load_artifact
from contract.registry import active_version
from contract.schema import load_schema
from retrain.config import MetricsConfig, PublishConfig, load_config
from retrain.evaluate import holdout_metrics
from retrain.job import run_with_candidate
from training.data.labels import derive
from training.data.readers import iter_chunks
from training.data.replay import partition_path, write_daily_partitions

POLICIES = ("gate", "always", "never")


def next_day(schema_path: Path, data: Path, day: dt.date) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Raw columns and labels of one day's partition (rows without a label dropped, as training drops them)."""
    schema = load_schema(schema_path)
    columns: dict[str, list[np.ndarray]] = {}
    labels = []
    for chunk in iter_chunks(schema, partition_path(data, day)):
        derived = derive(chunk, schema, timestamps=False)
        for name, column in chunk.take(derived.keep).columns.items():
            columns.setdefault(name, []).append(column)
        labels.append(derived.labels)
    return {name: np.concatenate(parts) for name, parts in columns.items()}, np.concatenate(labels).astype(float)


def replay(config_path: Path, source: Path, start: dt.date, nights: int, work: Path) -> dict[str, Any]:
    config = load_config(config_path)
    data = work / "daily"
    write_daily_partitions(load_schema(source), None, data)  # what `ctr replay` writes
    config = dataclasses.replace(
        config,
        models_dir=work / "models",
        data=dataclasses.replace(config.data, path=data),
        publish=PublishConfig(),
        metrics=MetricsConfig(),
    )
    first: Any = None
    rows = []
    # The first night bootstraps the model directory: there is no model yet, so its gate is open.
    bootstrap = dataclasses.replace(config, gate=dataclasses.replace(config.gate, max_ece=1.0, min_auc=0.0))
    for night in range(nights):
        day = start + dt.timedelta(days=night)
        report, candidate = run_with_candidate(bootstrap if night == 0 else config, day, progress=False)
        if candidate is None:
            raise RuntimeError(f"night {day}: the job failed: {report.error}")
        first = first or candidate
        columns, labels = next_day(config.data.schema, data, day)
        serving = load_artifact(config.model_dir, active_version(config.model_dir)) if active_version(
            config.model_dir) else None  # fmt: skip
        models = {"gate": serving, "always": candidate, "never": first}
        scores = {
            policy: holdout_metrics(m.encoder, m.table, m.bias, columns, labels)["auc"] if m is not None else None
            for policy, m in models.items()
        }
        rows.append({
            "night": day.isoformat(), "window": report.window, "rows": report.rows, "decision": report.outcome,
            "reasons": report.reasons, "candidate_holdout_auc": report.candidate["auc"],
            "active_holdout_auc": (report.active or {}).get("auc"),
            "candidate_next_day_auc": scores["always"], "next_day_rows": len(labels),
            "next_day_auc": scores, "serving_version": serving.version if serving else None,
            "seconds": report.seconds,
        })  # fmt: skip
        print(f"{day}  {report.outcome:<9} candidate holdout {report.candidate['auc']:.4f}  next day: "
              + "  ".join(f"{p} {s:.4f}" if s is not None else f"{p} -" for p, s in scores.items()))  # fmt: skip
    summary = {
        policy: {
            "mean_next_day_auc": statistics.fmean(
                r["next_day_auc"][policy] for r in rows if r["next_day_auc"][policy] is not None
            ),
            "nights": sum(r["next_day_auc"][policy] is not None for r in rows),
        }
        for policy in POLICIES
    }
    summary["gate"]["promotions"] = sum(r["decision"] == "promoted" for r in rows)
    summary["gate"]["rejections"] = sum(r["decision"] == "rejected" for r in rows)
    paired = [r["next_day_auc"]["gate"] - r["next_day_auc"]["never"] for r in rows if r["next_day_auc"]["gate"]]
    summary["gate_minus_never"] = {"mean": statistics.fmean(paired), "stdev": statistics.stdev(paired)}
    paired = [r["next_day_auc"]["gate"] - r["next_day_auc"]["always"] for r in rows if r["next_day_auc"]["gate"]]
    summary["gate_minus_always"] = {"mean": statistics.fmean(paired), "stdev": statistics.stdev(paired)}
    return {
        "config": str(config_path), "start": start.isoformat(), "nights": nights,
        "training": config.training.to_dict(), "gate": dataclasses.asdict(config.gate),
        "data": dataclasses.asdict(config.data) | {"path": "(ctr replay of MovieLens-100k)"},
        "summary": summary, "per_night": rows,
    }  # fmt: skip


def render(result: dict[str, Any], out: Path) -> None:
    """reports/nightly.md and .png from the JSON."""
    s = result["summary"]
    lines = [
        "# A month of nights: the nightly job replayed on MovieLens-100k",
        "",
        f"Produced by `python -m benchmarks.nightly --start {result['start']} --nights {result['nights']}` "
        f"(config `{result['config']}`, data from `ctr replay`). Each night D trains on the window before D, "
        "the gate judges candidate and active model on the holdout days just before D, and every policy is then "
        "scored on day D itself (the next day). All policies start from the first night's model (that night "
        "bootstraps the model directory, so its gate is open).",
        "",
        "| policy | mean next-day AUC | nights | notes |",
        "|---|---|---|---|",
        f"| gate (what the job serves) | {s['gate']['mean_next_day_auc']:.4f} | {s['gate']['nights']} | "
        f"{s['gate']['promotions']} promoted, {s['gate']['rejections']} rejected |",
        f"| always promote | {s['always']['mean_next_day_auc']:.4f} | {s['always']['nights']} | |",
        f"| never retrain | {s['never']['mean_next_day_auc']:.4f} | {s['never']['nights']} | |",
        "",
        f"Paired per night: gate − never {s['gate_minus_never']['mean']:+.4f} "
        f"(std {s['gate_minus_never']['stdev']:.4f}), gate − always {s['gate_minus_always']['mean']:+.4f} "
        f"(std {s['gate_minus_always']['stdev']:.4f}).",
        "",
        "| night | decision | train rows | holdout rows | candidate AUC (holdout) | active AUC (holdout) | "
        "next-day rows | gate | always | never |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["per_night"]:
        nd = r["next_day_auc"]
        active = "-" if r["active_holdout_auc"] is None else f"{r['active_holdout_auc']:.4f}"
        lines.append(f"| {r['night']} | {r['decision']} | {r['rows']['train']:,} | {r['rows']['holdout']:,} | "
                     f"{r['candidate_holdout_auc']:.4f} | {active} | {r['next_day_rows']} | "
                     + " | ".join("-" if nd[p] is None else f"{nd[p]:.4f}" for p in POLICIES) + " |")  # fmt: skip
    lines += ["", "Rejections and their reasons:", ""]
    for r in result["per_night"]:
        if r["decision"] != "promoted":
            failed = [reason for reason in r["reasons"] if reason.startswith("FAIL")]
            lines.append(f"- {r['night']}: " + "; ".join(failed))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(result, out.with_suffix(".png"))


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nights = [dt.date.fromisoformat(r["night"]) for r in result["per_night"]]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for policy, style in zip(POLICIES, ("-o", "--", ":"), strict=True):
        values = [r["next_day_auc"][policy] for r in result["per_night"]]
        ax.plot(nights, values, style, label=policy, markersize=3)
    for night, r in zip(nights, result["per_night"], strict=True):
        if r["decision"] == "rejected":
            ax.axvline(night, color="tab:red", alpha=0.15)
    ax.set_ylabel("AUC on the next day")
    ax.set_title("Nightly retraining on MovieLens-100k: serving AUC by policy (red: gate rejected)")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("deploy/retrain.toml"))
    parser.add_argument("--source", type=Path, default=Path("datasets/ml100k.toml"), help="the log to replay")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(1998, 1, 15))
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("reports/nightly.json"))
    parser.add_argument("--render", action="store_true", help="only redraw .md/.png from --out")
    args = parser.parse_args()
    if args.render:
        render(json.loads(args.out.read_text()), args.out)
        return
    with tempfile.TemporaryDirectory() as work:
        result = replay(args.config, args.source, args.start, args.nights, Path(work))
    args.out.write_text(json.dumps(result, indent=2, default=str))
    render(result, args.out)
    print(f"wrote {args.out} (.md, .png)")


if __name__ == "__main__":
    main()
