"""Write the report's tables into README.md and docs/smfm.md between generated-block markers.

A block is ``<!-- generated:NAME -->`` ... ``<!-- /generated:NAME -->``; everything between the two
lines is replaced, the prose around it is left alone. So the figures the README and the docs quote come
from the same ``paper_repro.py report`` run as reports/paper_repro.md (issue 22).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def replace_block(text: str, name: str, body: list[str]) -> str:
    """``text`` with block ``name``'s contents replaced by ``body``; a missing block is an error."""
    pattern = re.compile(rf"(<!-- generated:{re.escape(name)} -->\n).*?(<!-- /generated:{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no generated block {name!r}")
    return pattern.sub(lambda m: m.group(1) + "\n".join(body) + "\n" + m.group(2), text, count=1)


def fill_generated(report: dict[str, Any], root: Path = ROOT) -> None:
    from benchmarks.smfm_slots_report import ARM_TEXT, summary_table

    section = report["slots"]
    dec = section["decision"]
    summary = [
        *summary_table(section),
        "",
        f"Default by validation AUC at FM's tuned L2 (two slots − merged, per dataset and method): two slots "
        f"higher in {dec['two_slot_val_wins']} of {dec['of']}, mean {dec['mean_val_diff']:+.4f} → "
        f"**{dec['default']}**. Test AUC, mean ± std over seeds 0-4; (z) = mean/std of the per-seed paired "
        "differences, * = |z| > 2.",
    ]
    t, n = ARM_TEXT["tuned"], ARM_TEXT["none"]
    keys = [("MixFM two − merged, L2 = 0", f"MixFM two slots ({n}) − MixFM merged ({n})"),
            ("MixFM two − merged, tuned L2", f"MixFM two slots ({t}) − MixFM merged ({t})"),
            ("SMFM + penalty − two slots, L2 = 0", f"SMFM merged + penalty ({n}) − SMFM two slots ({n})"),
            ("SMFM + penalty − merged, L2 = 0", f"SMFM merged + penalty ({n}) − SMFM merged ({n})"),
            ("SMFM two slots at L2 = 0 − FM at tuned L2", f"SMFM two slots ({n}) − FM ({t})"),
            ("SMFM merged − FM, tuned L2", f"SMFM merged ({t}) − FM ({t})"),
            ("SMFM two slots − FM, tuned L2", f"SMFM two slots ({t}) − FM ({t})"),
            ("ECE: SMFM two − merged, L2 = 0", f"SMFM two slots ({n}) − SMFM merged ({n})")]  # fmt: skip
    paired = ["| dataset | μ | " + " | ".join(k for k, _ in keys) + " |", "|---|---|" + "---|" * len(keys)]
    for d, s in section["datasets"].items():
        cells = []
        for label, key in keys:
            row = s["paired"].get(key)
            if row is None:
                cells.append("not run")
                continue
            p = row["test_ece" if label.startswith("ECE") else "test_auc"]
            cells.append(f"{p['mean']:+.4f} ({p['z']:+.1f}){' *' if abs(p['z']) > 2 else ''}")
        paired.append(f"| {d} | {s['mu']} | " + " | ".join(cells) + " |")
    paired += [
        "",
        "Δ test AUC (last column: Δ test ECE), mean of per-seed paired differences over seeds 0-4 (z); * = |z| > 2.",
    ]
    for path, blocks in ((root / "README.md", {"slots-summary": summary}),
                         (root / "docs" / "smfm.md", {"slots-summary": summary, "slots-paired": paired})):  # fmt: skip
        text = path.read_text()
        for name, body in blocks.items():
            text = replace_block(text, name, body)
        path.write_text(text)
