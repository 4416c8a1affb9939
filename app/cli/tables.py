"""Plain-text tables of /v1/score and /v1/rank responses, for a person at a terminal."""

from __future__ import annotations

from typing import Any

RULE = "-" * 62


def short(value: Any, width: int = 24) -> str:
    # A list as a list: joining it with some separator would claim a spelling the schema may not use.
    text = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def summary(record: dict[str, Any]) -> str:
    return ", ".join(f"{k}={short(v)}" for k, v in record.items())


def format_explanation(explanation: dict[str, Any], title: str) -> str:
    """One score as a table of its parts, largest first, ending with their sum next to the logit."""
    lines = [f"{title}  p(click)={explanation['probability']:.4f}  logit={explanation['logit']:+.4f}",
             f"  {'part':<44} {'contribution':>12}"]  # fmt: skip
    parts = [(f"linear  {field}", value) for field, value in explanation["linear"].items()]
    for pair in explanation["pairs"]:
        a, b = pair["fields"]
        parts.append(
            (f"pair    {a} x {b}" + ("  (within field)" if pair["within_field"] else ""), pair["contribution"])
        )
    lines.append(f"  {'bias':<44} {explanation['bias']:>+12.4f}")
    lines += [f"  {name:<44} {value:>+12.4f}" for name, value in sorted(parts, key=lambda p: -abs(p[1]))]
    total = explanation["bias"] + sum(value for _, value in parts)
    lines += [f"  {RULE}", f"  {'sum of parts (= logit)':<44} {total:>+12.4f}"]
    if explanation["top_pairs"]:
        lines.append("  strongest feature pairs:")
        lines += [f"    {' x '.join(p['features']):<42} {p['contribution']:>+12.4f}" for p in explanation["top_pairs"]]
    return "\n".join(lines)


def format_scores(records: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """One line per record with its probability and fields; then each explanation, if any."""
    lines = [f"model {body['model_version']}  request {body['request_id']}"]
    oov = body.get("oov_fields")
    for i, (record, p) in enumerate(zip(records, body["probabilities"], strict=True)):
        extra = f"  unseen: {', '.join(oov[i])}" if oov and oov[i] else ""
        lines.append(f"  {i:>3}  p(click)={p:.4f}  {summary(record)}{extra}")
    for explanation in body.get("explanations", []):
        lines += ["", format_explanation(explanation, f"record {explanation['index']}")]
    return "\n".join(lines)


def format_ranking(candidates: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Candidates best first (only the top k when the server returned ``top_indices``)."""
    probabilities = body["probabilities"]
    scored = [i for i, p in enumerate(probabilities) if p is not None]  # null: an unknown id that was skipped
    order = body.get("top_indices") or sorted(scored, key=lambda i: -probabilities[i])
    unknown = set(body.get("unknown_indices", []))
    lines = [f"model {body['model_version']}  request {body['request_id']}  "
             f"{len(probabilities)} candidates, showing {len(order)}",
             f"  {'rank':>4}  {'index':>5}  {'p(click)':>8}  candidate"]  # fmt: skip
    lines += [f"  {r:>4}  {i:>5}  {probabilities[i]:>8.4f}  {summary(candidates[i])}"
              + ("  (not in the catalog)" if i in unknown else "") for r, i in enumerate(order, 1)]  # fmt: skip
    if len(scored) < len(probabilities):
        lines.append(f"  skipped (not in the catalog): {', '.join(str(i) for i in sorted(unknown))}")
    for explanation in body.get("explanations", []):
        lines += ["", format_explanation(explanation, f"candidate {explanation['index']}")]
    return "\n".join(lines)
