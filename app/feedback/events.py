"""POST /v1/feedback bodies: one event or a batch, validated by hand like the scoring bodies.

::

    {"request_id": "4f1c...", "row": 0, "clicked": true, "ts": 1764756000.5}
    {"events": [{"request_id": "4f1c...", "row": 0, "clicked": true}, ...]}

``request_id`` and ``row`` name a scored row (the answer's ``request_id`` and the row's index in the
request); ``clicked`` is true or false (1 or 0); ``ts`` (epoch seconds, optional) is when the click
happened, the time the event arrives if absent. ``ctr join`` attributes a click to its impression if
it happened within the attribution window after it.
"""

from __future__ import annotations

import math
from typing import Any

from app.errors import InvalidRequest
from app.scoring.request import load_object, whole

EVENT_KEYS = frozenset({"request_id", "row", "clicked", "ts"})
BODY_KEYS = EVENT_KEYS | {"events"}
MAX_REQUEST_ID = 128


def parse_feedback(body: bytes, max_events: int, now: float) -> list[dict[str, Any]]:
    """The events of a body, each ``{"request_id", "row", "clicked", "ts"}``; a bad one is a 422 naming it."""
    data = load_object(body, BODY_KEYS, "request_id, row, clicked, ts (or events)")
    if "events" in data:
        if len(data) > 1:
            raise InvalidRequest("give one event or an events list, not both", sorted(set(data) - {"events"})[0])
        events = data["events"]
        if not isinstance(events, list) or not events:
            raise InvalidRequest("must be a non-empty list of events", "events")
        if len(events) > max_events:
            raise InvalidRequest(f"has {len(events)} events, more than the limit of {max_events} (CTR_MAX_RECORDS)",
                                 "events")  # fmt: skip
        return [_event(e, now, f"events[{i}]") for i, e in enumerate(events)]
    return [_event(data, now, None)]


def _event(raw: Any, now: float, where: str | None) -> dict[str, Any]:
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{prefix}must be an object", "events")
    for key in raw:
        if key not in EVENT_KEYS:
            raise InvalidRequest(f"{prefix}unknown field", key)
    rid = raw.get("request_id")
    if not isinstance(rid, str) or not rid or len(rid) > MAX_REQUEST_ID or not rid.isprintable():
        raise InvalidRequest(f"{prefix}must be the request id of a scored request (1-{MAX_REQUEST_ID} characters)",
                             "request_id")  # fmt: skip
    row = whole(raw.get("row"))
    if type(row) is not int or row < 0:
        raise InvalidRequest(f"{prefix}must be the row's index in its request (an integer >= 0)", "row")
    clicked = raw.get("clicked")
    if type(clicked) is int and clicked in (0, 1):
        clicked = bool(clicked)
    if type(clicked) is not bool:
        raise InvalidRequest(f"{prefix}must be true or false", "clicked")
    ts = raw.get("ts", now)
    if type(ts) not in (int, float) or not math.isfinite(ts) or ts <= 0:
        raise InvalidRequest(f"{prefix}must be a time in seconds since the epoch", "ts")
    return {"request_id": rid, "row": row, "clicked": clicked, "ts": float(ts)}
