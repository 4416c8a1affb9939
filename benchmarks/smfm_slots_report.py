"""Issue 22's section of reports/paper_repro.{json,md}: tables, paired differences, the default, plots.

Called by ``benchmarks/paper_report.write_report``. A (dataset, variant, L2) cell whose runs are not all
in the cache is reported as "not run" instead of failing, so a partial grid still reports honestly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.smfm_slots import (
    ARMS,
    DATASETS,
    MU_GRID,
    PAPER,
    PAPER_DATASETS,
    PAPER_VARIANTS,
    SEEDS,
    VARIANTS,
    cells,
    chosen_mu,
    grid_jobs,
    mu_jobs,
    paper_jobs,
)
from training.experiments.jobs import load_result
from training.experiments.mechanism import bin_labels

ARM_TEXT = {"tuned": "FM's tuned L2", "none": "L2 = 0"}
# (A, B, arm of A, arm of B): paired per seed
COMPARISONS = [
    *[(f"{m} two slots", f"{m} merged", arm, arm) for m in ("MixFM", "SMFM") for arm in ARMS],
    *[
        (f"{m} merged + penalty", f"{m} {b}", "none", "none")
        for m in ("MixFM", "SMFM")
        for b in ("merged", "two slots")
    ],
    *[(f"{m} {f}", "FM", arm, arm) for m in ("MixFM", "SMFM") for f in ("merged", "two slots") for arm in ARMS],
    *[(f"{m} {f}", "FM", "none", "tuned") for m in ("MixFM", "SMFM") for f in ("two slots", "merged + penalty")],
    ("FM", "FM", "tuned", "none"),
]


PAPER_COMPARISONS = [
    ("SMFM two slots", "SMFM merged"), ("SMFM merged + penalty", "SMFM merged"),
    ("SMFM merged + penalty", "SMFM two slots"), ("SMFM merged + L2", "SMFM two slots"),
    ("SMFM merged", "FM"), ("SMFM two slots", "FM + L2"), ("SMFM merged + L2", "FM + L2"), ("FM + L2", "FM"),
]  # fmt: skip


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "n": len(a)}


def _runs(cache: Path, dataset: str, tuned: dict[str, Any]) -> tuple[dict[tuple[str, str], list[dict]], float | None]:
    try:
        mu = chosen_mu(cache, dataset, tuned)
    except FileNotFoundError:
        mu = None
    out = {}
    for key, jobs in grid_jobs(dataset, tuned, mu, penalty=mu is not None).items():
        if all((cache / f"{j.key}.json").exists() for j in jobs):
            out[key] = [load_result(cache, j) for j in jobs]
    return out, mu


def _paired(runs: dict[tuple[str, str], list[dict]]) -> dict[str, Any]:
    return {
        f"{a} ({ARM_TEXT[arm_a]}) − {b} ({ARM_TEXT[arm_b]})": _paired_rows(runs[(a, arm_a)], runs[(b, arm_b)])
        for a, b, arm_a, arm_b in COMPARISONS
        if (a, arm_a) in runs and (b, arm_b) in runs
    }


def _paired_rows(a: list[dict], b: list[dict]) -> dict[str, Any]:
    ra, rb = {r["seed"]: r for r in a}, {r["seed"]: r for r in b}
    row = {}
    metrics = (("test_auc", lambda r: r["test"]["auc"]), ("val_auc", lambda r: r["validation"]["auc"]),
               ("test_ece", lambda r: r["test"]["ece"]))  # fmt: skip
    for metric, get in metrics:
        diffs = [get(ra[s]) - get(rb[s]) for s in SEEDS]
        mean, std = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
        row[metric] = {"mean": mean, "std": std, "z": mean / std if std else float("nan"), "diffs": diffs}
    return row


def _paper(cache: Path, dataset: str, tuned: dict[str, Any], mu: float | None) -> dict[str, Any] | None:
    if mu is None:
        return None
    runs = {label: [load_result(cache, j) for j in jobs] for label, jobs in paper_jobs(dataset, tuned, mu).items()
            if all((cache / f"{j.key}.json").exists() for j in jobs)}  # fmt: skip
    cells_ = {label: {"val_auc": _stats([r["validation"]["auc"] for r in rs]),
                      "test_auc": _stats([r["test"]["auc"] for r in rs]),
                      "test_ece": _stats([r["test"]["ece"] for r in rs]),
                      "best_epoch": _stats([r["best_epoch"] for r in rs])} for label, rs in runs.items()}  # fmt: skip
    paired = {f"{a} − {b}": _paired_rows(runs[a], runs[b]) for a, b in PAPER_COMPARISONS if a in runs and b in runs}
    return {"cells": cells_, "paired": paired, "missing": [v for v in PAPER_VARIANTS if v not in runs]}


def _norms(runs: dict[tuple[str, str], list[dict]]) -> dict[str, dict[str, float]]:
    """Mean over seeds of the mean ‖v_f‖ per frequency bin, per variant at L2 = 0."""
    out: dict[str, dict[str, float]] = {}
    for (label, arm), rs in runs.items():
        if arm == "none":
            bins = rs[0]["norms"]["embedding_norm"]
            out[label] = {b: float(np.mean([r["norms"]["embedding_norm"][b]["mean"] for r in rs])) for b in bins}
            out[label] |= {f"features {b}": rs[0]["norms"]["embedding_norm"][b]["features"] for b in bins}
    return out


def decide(paired: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The default form: the one with the higher validation AUC in more (dataset, method) cells at FM's
    tuned L2 (the setting we recommend), ties broken by the mean paired validation difference."""
    cells_ = []
    for dataset, rows in paired.items():
        for m in ("MixFM", "SMFM"):
            key = f"{m} two slots ({ARM_TEXT['tuned']}) − {m} merged ({ARM_TEXT['tuned']})"
            if key in rows:
                cells_.append({"dataset": dataset, "method": m, "val": rows[key]["val_auc"]["mean"],
                               "test": rows[key]["test_auc"]["mean"]})  # fmt: skip
    wins = sum(c["val"] > 0 for c in cells_)
    mean = float(np.mean([c["val"] for c in cells_])) if cells_ else 0.0
    two = wins > len(cells_) - wins or (2 * wins == len(cells_) and mean > 0)
    return {"cells": cells_, "two_slot_val_wins": wins, "of": len(cells_), "mean_val_diff": mean,
            "default": "two slots" if two else "merged"}  # fmt: skip


def build(cache: Path, tuned_of: dict[str, dict[str, Any]], mechanism_path: Path) -> dict[str, Any]:
    section: dict[str, Any] = {"datasets": {}, "mu_grid": list(MU_GRID), "seeds": list(SEEDS)}
    for d in DATASETS:
        if d not in tuned_of:
            continue
        runs, mu = _runs(cache, d, tuned_of[d])
        mu_scores = {}
        if mu is not None:
            for job in mu_jobs(d, tuned_of[d]):
                mu_scores.setdefault(str(dict(job.settings)["shared_penalty"]), []).append(
                    load_result(cache, job)["validation"]["auc"]
                )
        section["datasets"][d] = {
            "tuned": tuned_of[d], "mu": mu, "mu_val_auc": {k: _stats(v) for k, v in mu_scores.items()},
            "cells": {f"{label} | {arm}": {
                "val_auc": _stats([r["validation"]["auc"] for r in rs]),
                "test_auc": _stats([r["test"]["auc"] for r in rs]),
                "test_logloss": _stats([r["test"]["logloss"] for r in rs]),
                "test_ece": _stats([r["test"]["ece"] for r in rs]),
                "best_epoch": _stats([r["best_epoch"] for r in rs])} for (label, arm), rs in runs.items()},
            "missing": [f"{label} | {arm}" for label in VARIANTS for arm in cells(label) if (label, arm) not in runs],
            "paired": _paired(runs), "norms_l2_0": _norms(runs),
        }  # fmt: skip
    section["paper_protocol"] = {"settings": PAPER, "datasets": {}}
    for d in PAPER_DATASETS:
        if d in section["datasets"]:
            paper = _paper(cache, d, tuned_of[d], section["datasets"][d]["mu"])
            if paper is not None:
                section["paper_protocol"]["datasets"][d] = paper
    section["decision"] = decide({d: s["paired"] for d, s in section["datasets"].items()})
    if mechanism_path.exists():  # referenced, not copied: the markdown reads it (it is ~120 kB)
        section["mechanism_file"] = str(mechanism_path.relative_to(mechanism_path.parents[2]))
    return section


def _pm(s: dict[str, float], digits: int = 4) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _cell(section: dict[str, Any], d: str, label: str, arm: str, key: str = "test_auc") -> str:
    c = section["datasets"][d]["cells"].get(f"{label} | {arm}")
    return _pm(c[key]) if c else "not run"


def _z(row: dict[str, Any] | None, metric: str = "test_auc") -> str:
    if row is None:
        return "not run"
    p = row[metric]
    return f"{p['mean']:+.4f} ({p['z']:+.1f}){' *' if abs(p['z']) > 2 else ''}"


def summary_table(section: dict[str, Any]) -> list[str]:
    """The compact table the README and docs/smfm.md carry (test AUC, 5 seeds)."""
    lines = ["| dataset | FM, tuned L2 | SMFM merged, tuned L2 | SMFM two slots, tuned L2 | FM, L2 = 0 | "
             "SMFM merged, L2 = 0 | SMFM two slots, L2 = 0 | two − merged, SMFM, L2 = 0 (z) | "
             "two − merged, SMFM, tuned L2 (z) |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, s in section["datasets"].items():
        p = s["paired"]
        t, n = ARM_TEXT["tuned"], ARM_TEXT["none"]
        lines.append(
            f"| {d} | {_cell(section, d, 'FM', 'tuned')} | {_cell(section, d, 'SMFM merged', 'tuned')} | "
            f"{_cell(section, d, 'SMFM two slots', 'tuned')} | {_cell(section, d, 'FM', 'none')} | "
            f"{_cell(section, d, 'SMFM merged', 'none')} | {_cell(section, d, 'SMFM two slots', 'none')} | "
            f"{_z(p.get(f'SMFM two slots ({n}) − SMFM merged ({n})'))} | "
            f"{_z(p.get(f'SMFM two slots ({t}) − SMFM merged ({t})'))} |"
        )
    return lines


def markdown(section: dict[str, Any]) -> list[str]:
    from benchmarks.smfm_slots_tables import mechanism_lines, norms_lines, paper_lines

    dec = section["decision"]
    lines = ["## Two slots or merged duplicates (issue 22: `paper_repro.py slots` and `mechanism`)", "",
             "Design and expected outcome, written before the runs: docs/smfm.md. Per dataset, FM's L2 and "
             "learning rate are tuned on validation; every variant then runs at that L2 and at L2 = 0 (same "
             "learning rate), seeds 0-4. `+ penalty` = merged rows + `--shared-penalty μ`, μ chosen on "
             f"validation from {section['mu_grid']} (MixFM, L2 = 0, seeds 0-1), run at L2 = 0 only. "
             "Paired differences: mean of the per-seed differences (z = mean/std; * marks |z| > 2).", "",
             "Test AUC (mean ± std over 5 seeds):", "", *summary_table(section), ""]  # fmt: skip
    lines += [f"**Default** (validation AUC at FM's tuned L2, two slots − merged, per dataset and method): two "
              f"slots higher in {dec['two_slot_val_wins']} of {dec['of']} cells, mean difference "
              f"{dec['mean_val_diff']:+.4f} → **{dec['default']}**.", ""]  # fmt: skip
    for d, s in section["datasets"].items():
        t = s["tuned"]
        lines += [f"### {d}", "", f"FM's tuned L2 = {t['l2']}, lr = {t['lr']}; chosen μ = {s['mu']}."
                  + (f" Not run: {', '.join(s['missing'])}." if s["missing"] else ""), "",
                  "| variant | val AUC, tuned L2 | test AUC, tuned L2 | val AUC, L2 = 0 | test AUC, L2 = 0 | "
                  "test ECE, L2 = 0 |", "|---|---|---|---|---|---|"]  # fmt: skip
        for label in VARIANTS:
            row = [_cell(section, d, label, arm, key) for arm, key in
                   (("tuned", "val_auc"), ("tuned", "test_auc"), ("none", "val_auc"), ("none", "test_auc"),
                    ("none", "test_ece"))]  # fmt: skip
            lines.append(f"| {label} | " + " | ".join(row) + " |")
        lines += ["", "| comparison A − B | Δ test AUC (z) | Δ val AUC (z) |", "|---|---|---|"]
        for name, row in s["paired"].items():
            lines.append(f"| {name} | {_z(row)} | {_z(row, 'val_auc')} |")
        lines.append("")
    lines += paper_lines(section["paper_protocol"])
    lines += norms_lines(section, bin_labels())
    if "mechanism_file" in section:
        root = Path(__file__).resolve().parents[1]
        lines += mechanism_lines(json.loads((root / section["mechanism_file"]).read_text()))
    return lines
