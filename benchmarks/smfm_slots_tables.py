"""Issue 22's norm and mechanism tables and its two plots (benchmarks/smfm_slots_report.py builds the rest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.smfm_slots import ARMS, VARIANTS

NORM_VARIANTS = [v for v in VARIANTS]


def _present(bins: list[str], norms: dict[str, dict[str, float]]) -> list[str]:
    return [b for b in bins if any(b in row for row in norms.values())]


def norms_lines(section: dict[str, Any], bins: list[str]) -> list[str]:
    lines = ["### Embedding norms by feature frequency (L2 = 0)", "",
             "Mean ‖v_f‖ over the features whose training count falls in each bin (header: bin, features), "
             "averaged over the 5 seeds; recorded by every grid run (`norms` in its cached JSON).", ""]  # fmt: skip
    for d, s in section["datasets"].items():
        norms = s["norms_l2_0"]
        if not norms:
            continue
        shown = _present(bins, norms)
        any_row = next(iter(norms.values()))
        head = " | ".join(f"{b} ({int(any_row.get(f'features {b}', 0))})" for b in shown)
        lines += [f"**{d}**", "", f"| variant | {head} |", "|---|" + "---|" * len(shown)]
        for label in NORM_VARIANTS:
            if label in norms:
                lines.append(
                    f"| {label} | " + " | ".join(f"{norms[label].get(b, float('nan')):.3f}" for b in shown) + " |"
                )
        for m in ("MixFM", "SMFM"):
            two, merged = norms.get(f"{m} two slots"), norms.get(f"{m} merged")
            if two and merged:
                ratios = " | ".join(f"{two[b] / merged[b]:.2f}" if merged.get(b) else "-" for b in shown)
                lines.append(f"| *{m}: two slots / merged* | {ratios} |")
        lines.append("")
    return lines


def paper_lines(paper: dict[str, Any]) -> list[str]:
    if not paper["datasets"]:
        return []
    st = paper["settings"]
    lines = [f"### The authors' protocol (K = {st['dim']}, Adam {st['lr']}, batch {st['batch_size']}, ≤ "
             f"{st['epochs']} epochs, patience {st['patience']} after epoch {st['min_epochs']}, no L2)", "",
             "The setting of the issue's own check. '+ L2' = the dataset's tuned L2 (tuned for the default "
             "trainer), '+ penalty' = its μ; seeds 0-4.", "",
             "| dataset | variant | val AUC | test AUC | test ECE | best epoch |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for d, s in paper["datasets"].items():
        for label, c in s["cells"].items():
            lines.append(f"| {d} | {label} | {_pm(c['val_auc'])} | {_pm(c['test_auc'])} | {_pm(c['test_ece'])} | "
                         f"{c['best_epoch']['mean']:.1f} |")  # fmt: skip
    lines += ["", "| dataset | comparison A − B | Δ test AUC (z) | Δ val AUC (z) |", "|---|---|---|---|"]
    for d, s in paper["datasets"].items():
        for name, row in s["paired"].items():
            lines.append(f"| {d} | {name} | {_z(row['test_auc'])} | {_z(row['val_auc'])} |")
    lines.append("")
    return lines


def _pm(s: dict[str, float], digits: int = 4) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _z(p: dict[str, float]) -> str:
    return f"{p['mean']:+.4f} ({p['z']:+.1f}){' *' if abs(p['z']) > 2 else ''}"


def mechanism_lines(mechanism: dict[str, Any]) -> list[str]:
    lines = ["### What the self-interaction does (`paper_repro.py mechanism`: seed-0 models at L2 = 0)", "",
             "Each model scores one epoch of random mixes (MixFM's draw, seed 0). |D| = features both parents "
             "hold; δ = λ(1−λ)Σ_{f∈D} ab‖v_f‖² (what two slots add to the logit); residual = σ(logit) − mixed "
             "label, under the two-slot logit (z + δ) and the merged one (z); effective coefficient = "
             "Σ r·δ / Σ δ, the δ-weighted two-slot residual: the weight of the implied penalty (> 0 shrinks).", "",
             "| dataset | model | mean |D| | mean δ | effective coefficient | residual, merged logit | "
             "residual, two-slot logit, |D| ≥ 3 |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, m in mechanism.items():
        for label, row in m["variants"].items():
            by = row["by_shared_features"]
            big = [by[k] for k in ("3-5", "6+") if k in by]
            share = sum(b["share_of_mixes"] for b in big)
            r_merged = sum(b["residual_merged"] * b["share_of_mixes"] for b in big) / share if share else float("nan")
            r_two = sum(b["residual_two_slot"] * b["share_of_mixes"] for b in big) / share if share else float("nan")
            lines.append(f"| {d} | {label} | {row['mean_shared_features']:.2f} | {row['mean_delta']:.4f} | "
                         f"{row['effective_coefficient']:+.4f} | {r_merged:+.4f} | {r_two:+.4f} |")  # fmt: skip
    lines += ["", "Per feature-frequency bin, for the two-slot and merged MixFM models: how often a feature is held "
              "by both parents of its mixes (share rate), its mean ‖v_f‖, the pressure of δ on ‖v_f‖ "
              "(d mean loss / d‖v_f‖ through δ; > 0 shrinks) and, for scale, the pressure of FM's tuned L2 "
              "(2·L2·count·‖v_f‖ / rows).", "",
              "| dataset | model | bin | share rate | ‖v_f‖ | δ pressure | tuned-L2 pressure |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, m in mechanism.items():
        for label in ("MixFM two slots", "MixFM merged"):
            row = m["variants"].get(label)
            if row is None:
                continue
            for b, share in row["share_rate"].items():
                lines.append(f"| {d} | {label} | {b} ({share['features']}) | {share['mean']:.3f} | "
                             f"{row['embedding_norm'][b]['mean']:.3f} | {row['self_pressure'][b]['mean']:+.2e} | "
                             f"{row['l2_pressure'][b]['mean']:.2e} |")  # fmt: skip
    lines += ["", "SMFM's signed saliency: all K = 10 candidates of each row against the kept one, scored by the "
              "seed-0 SMFM model in its own form (residual under that form's logit).", "",
              "| dataset | model | mixes | mean |D| | mean δ | mixed label | residual | λ |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for d, m in mechanism.items():
        for label, row in m["variants"].items():
            for which, c in row.get("saliency", {}).items():
                lines.append(f"| {d} | {label} | {which} | {c['shared_features']:.2f} | {c['delta']:.4f} | "
                             f"{c['label']:.4f} | {c['residual']:+.4f} | {c['lam']:.3f} |")  # fmt: skip
    lines.append("")
    return lines


def plots(section: dict[str, Any], out: Path, bins: list[str]) -> list[str]:
    """Two PNGs: paired two − merged test AUC per dataset; norms by frequency at L2 = 0. Returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(section["datasets"])
    fig, ax = plt.subplots(figsize=(10, 3.8))
    series = [(m, arm) for m in ("MixFM", "SMFM") for arm in ARMS]
    for k, (m, arm) in enumerate(series):
        text = "FM's tuned L2" if arm == "tuned" else "L2 = 0"
        key = f"{m} two slots ({text}) − {m} merged ({text})"
        xs, means, stds = [], [], []
        for i, d in enumerate(names):
            row = section["datasets"][d]["paired"].get(key)
            if row:
                xs.append(i + (k - 1.5) * 0.15)
                means.append(row["test_auc"]["mean"])
                stds.append(row["test_auc"]["std"])
        ax.errorbar(xs, means, stds, fmt="o", capsize=3, label=f"{m}, {text}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylabel("test AUC: two slots − merged\n(mean ± std of per-seed differences)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "slots_paired.png", dpi=110)
    plt.close(fig)

    shown = [d for d in names if section["datasets"][d]["norms_l2_0"]]
    if shown:
        cols = min(4, len(shown))
        rows = -(-len(shown) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
        for ax, d in zip(axes.flat, shown, strict=False):
            norms = section["datasets"][d]["norms_l2_0"]
            present = _present(bins, norms)
            for label in ("FM", "MixFM merged", "MixFM two slots", "MixFM merged + penalty", "SMFM merged",
                          "SMFM two slots"):  # fmt: skip
                if label in norms:
                    ax.plot(range(len(present)), [norms[label].get(b, np.nan) for b in present], marker="o", ms=3,
                            label=label, ls="--" if "SMFM" in label else "-")  # fmt: skip
            ax.set_xticks(range(len(present)), present, rotation=30, fontsize=6)
            ax.set_title(d, fontsize=9)
            ax.set_ylabel("mean ‖v_f‖", fontsize=8)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(shown) :]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=6)
        fig.supxlabel("training count of the feature", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "slots_norms.png", dpi=110)
        plt.close(fig)
    return ["slots_paired.png", "slots_norms.png"]
