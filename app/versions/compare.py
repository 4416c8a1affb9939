"""``ctr models compare``: the active and the shadow version judged on the same served rows and their clicks.

Reads ``ctr join``'s partitions; every row a shadow version also scored carries both probabilities
and the click that came back, so the two models are compared on exactly the traffic they would serve:
AUC, log loss and calibration error of each, and how far the shadow's scores move from the active's
(mean shift, mean absolute shift, and the population stability index of the two score distributions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from contract.metrics import auc, calibration, log_loss, population_stability


def compare(joined: Path) -> dict[str, Any]:
    labels, active, shadow, versions = [], [], [], set()
    for path in sorted(joined.glob("date=*/part-0.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("shadow_probability") is not None:
                labels.append(row["clicked"])
                active.append(row["probability"])
                shadow.append(row["shadow_probability"])
                versions.add((row["model_version"], row["shadow_version"]))
    y, p, q = (np.asarray(v, dtype=np.float64) for v in (labels, active, shadow))
    out: dict[str, Any] = {"rows": len(y), "positive_rate": float(y.mean()) if len(y) else None,
                           "versions": sorted([{"active": a, "shadow": s} for a, s in versions], key=str)}  # fmt: skip
    if len(y):
        for name, scores in (("active", p), ("shadow", q)):
            out[name] = {"auc": auc(y, scores), "logloss": log_loss(y, scores), "ece": calibration(y, scores)["ece"]}
        shift = q - p
        out["shift"] = {"mean": float(shift.mean()), "mean_abs": float(np.abs(shift).mean()),
                        "psi": population_stability(p, q)}  # fmt: skip
    return out


def format_comparison(result: dict[str, Any]) -> str:
    if not result["rows"]:
        return "no joined rows carry a shadow score (is a shadow version set, CTR_IMPRESSION_LOG on, ctr join run?)"
    lines = [f"{result['rows']:,} rows scored by both, positive rate {result['positive_rate']:.3f}",
             f"  {'':<8} {'AUC':>8} {'log loss':>9} {'ECE':>7}"]  # fmt: skip
    for name in ("active", "shadow"):
        m = result[name]
        lines.append(f"  {name:<8} {m['auc']:>8.4f} {m['logloss']:>9.4f} {m['ece']:>7.4f}")
    s = result["shift"]
    lines.append(f"  shadow - active: mean {s['mean']:+.4f}, mean |.| {s['mean_abs']:.4f}, PSI {s['psi']:.4f}")
    return "\n".join(lines)
