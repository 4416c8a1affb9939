"""The promotion gate: the candidate replaces the active model only if it is not worse on the same days."""

from __future__ import annotations

from dataclasses import dataclass

from retrain.config import GateConfig


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: tuple[str, ...]  # every check, passed or failed, in words


def decide(gate: GateConfig, candidate: dict[str, float], active: dict[str, float] | None, rows: int) -> Decision:
    """Judge holdout metrics (``auc``, ``logloss``, ``ece``) of the candidate against the active model's."""
    checks: list[tuple[bool, str]] = [
        (rows >= gate.min_holdout_rows, f"holdout rows {rows} >= {gate.min_holdout_rows}"),
        (candidate["ece"] <= gate.max_ece, f"candidate ECE {candidate['ece']:.4f} <= {gate.max_ece:g}"),
    ]
    if active is None:
        no_active = f"no active model: candidate AUC {candidate['auc']:.4f} >= {gate.min_auc:g}"
        checks.append((candidate["auc"] >= gate.min_auc, no_active))
    else:
        auc_ok = candidate["auc"] >= active["auc"] - gate.max_auc_drop
        logloss_ok = candidate["logloss"] <= active["logloss"] + gate.max_logloss_rise
        checks.append(
            (auc_ok, f"candidate AUC {candidate['auc']:.4f} >= active {active['auc']:.4f} - {gate.max_auc_drop:g}")
        )
        checks.append((logloss_ok, f"candidate log loss {candidate['logloss']:.4f} <= active {active['logloss']:.4f} "
                                   f"+ {gate.max_logloss_rise:g}"))  # fmt: skip
    return Decision(all(ok for ok, _ in checks), tuple(("pass: " if ok else "FAIL: ") + text for ok, text in checks))
