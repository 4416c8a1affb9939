"""Process-level tuning of the server's Python runtime, applied once at start-up.

Python's cyclic garbage collector runs a young-generation pass every 700 container allocations
and, now and then, a full pass over every object in the process (FastAPI, pydantic, numpy and
onnxruntime leave tens of thousands). A request body of a thousand candidates allocates thousands
of dicts and lists, all freed by reference counting when the request ends, yet it pays for several
passes: parsing a 1,000-candidate /v1/rank body took on average twice as long with the defaults as
with the collector disabled, with a p99 of tens of ms (reports/rank_compute.json, docs/ranking.md).
So after start-up the server freezes the objects that live for the whole process (``gc.freeze``:
later passes skip them) and runs the young pass less often. The collector stays enabled: reference
cycles are still reclaimed.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("app")


_tuned = False


def tune_gc(gen0_threshold: int) -> None:
    """Freeze start-up objects and set the young-generation threshold; 0 keeps Python's defaults.

    Once per process: a process that builds several apps (tests) freezes only what its first
    start-up left, so objects of later, shorter-lived apps stay collectable.
    """
    global _tuned
    if gen0_threshold <= 0 or _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    log.info("gc: froze %d start-up objects, young-generation threshold %d", gc.get_freeze_count(), gen0_threshold)
