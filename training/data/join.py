"""``ctr join``: a day of impressions and the feedback that came back for them, as one labelled partition.

Input: the server's log (``CTR_IMPRESSION_DIR``, or what ``ctr impressions pull`` wrote from a
Redis stream)::

    <log>/date=D/impressions-*.jsonl      one line per scored row: request_id, row, ts, fields, probability
    <log>/date=D+k/feedback-*.jsonl       one line per event: request_id, row, clicked, ts

Output: ``<out>/date=D/part-0.jsonl``, one line per distinct impression of day D: its raw fields as
served (the exact values the model saw), ``clicked`` (1 when a ``clicked: true`` event for its
request id and row happened within ``window`` seconds after it, else 0), ``ts``, and where it came
from (``request_id``, ``row``, ``model_version``, ``probability``; ``shadow_version`` and
``shadow_probability`` where a shadow version scored the row too). Feedback is read from day D and
the days the window reaches into. The partition is written to a hidden file and renamed: a re-run
rewrites it identically (rows sorted by time, request id and row), so the join is idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.data.errors import DataError

JOINED_FILE = "part-0.jsonl"
RESERVED = ("clicked", "ts", "request_id", "row", "model_version", "probability", "shadow_version",
            "shadow_probability")  # fmt: skip


@dataclass(frozen=True)
class JoinResult:
    day: str
    impressions: int  # distinct impressions of the day, each one output row
    duplicates: int  # lines for an impression already seen (a retried write), skipped
    positives: int
    negatives: int
    clicks_outside_window: int  # clicks for the day's impressions that came too late (or before them)
    feedback_events: int  # events read from the days the window covers
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def join_day(log_dir: Path, day: dt.date, out: Path, window_seconds: float) -> JoinResult:
    """Join one day (see the module docstring); DataError when the day has no impressions."""
    impressions, duplicates = _impressions(log_dir / f"date={day.isoformat()}")
    if not impressions:
        raise DataError(f"{log_dir}: no impressions for {day.isoformat()} (is CTR_IMPRESSION_LOG on?)")
    days_after = math.ceil(window_seconds / 86_400)
    clicks: dict[tuple[str, int], list[float]] = defaultdict(list)
    events = 0
    for k in range(days_after + 1):
        for event in _lines(log_dir / f"date={(day + dt.timedelta(days=k)).isoformat()}", "feedback"):
            events += 1
            if event.get("clicked") is True:
                clicks[(event["request_id"], event["row"])].append(float(event["ts"]))
    rows, positives, outside = [], 0, 0
    for key, line in sorted(impressions.items(), key=lambda kv: (kv[1]["ts"], kv[0])):
        ts = float(line["ts"])
        times = clicks.get(key, [])
        clicked = any(ts <= t <= ts + window_seconds for t in times)
        outside += sum(not ts <= t <= ts + window_seconds for t in times)
        positives += clicked
        fields = line["fields"]
        clash = [name for name in RESERVED if name in fields]
        if clash:
            raise DataError(f"{log_dir}: the fields {clash} clash with the joined partition's own columns")
        row = {**fields, "clicked": int(clicked), "ts": ts, "request_id": key[0], "row": key[1],
               "model_version": line["model_version"], "probability": line["probability"]}  # fmt: skip
        if "shadow_version" in line:
            row["shadow_version"], row["shadow_probability"] = line["shadow_version"], line["shadow_probability"]
        rows.append(row)
    target = out / f"date={day.isoformat()}" / JOINED_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{JOINED_FILE}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    os.replace(tmp, target)
    return JoinResult(day.isoformat(), len(rows), duplicates, positives, len(rows) - positives, outside, events,
                      str(target))  # fmt: skip


def _impressions(folder: Path) -> tuple[dict[tuple[str, int], dict[str, Any]], int]:
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    duplicates = 0
    for line in _lines(folder, "impressions"):
        key = (line["request_id"], line["row"])
        if key in seen:
            duplicates += 1
        else:
            seen[key] = line
    return seen, duplicates


def _lines(folder: Path, stream: str) -> list[dict[str, Any]]:
    """Every record of the visible segments of one stream (hidden, still-open segments are not read)."""
    out = []
    for path in sorted(folder.glob(f"{stream}-*.jsonl")):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if text:
                try:
                    out.append(json.loads(text))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {number}: not a JSON record ({exc})") from None
    return out
