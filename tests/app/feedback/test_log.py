"""The event log: never blocks the caller, drops (and counts) past its bound, survives a failing sink."""

import json
import threading

import numpy as np

from app.feedback.log import EventLog, Feedback, Impressions
from app.feedback.segments import SegmentSink
from app.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def impressions(rid: str, n: int) -> Impressions:
    return Impressions(rid, 1764756000.0, "v1", [{"user": i} for i in range(n)], None, np.full(n, 0.25, np.float32))


def test_rows_become_lines_with_their_request_row_and_fields(tmp_path):
    metrics = Metrics()
    events = EventLog(SegmentSink(tmp_path, 3600), metrics, max_rows=100, sample=1.0, flush_seconds=0.01)
    events.log_impressions(impressions("r1", 3))
    columns = Impressions("r2", 1764756000.0, "v1", None, {"user": [7, 8]}, np.array([0.5, 0.75], np.float32))
    events.log_impressions(columns)
    events.log_feedback(Feedback([{"request_id": "r1", "row": 2, "clicked": True, "ts": 1764756001.0}], 1764756002.0))
    events.close()
    lines = [json.loads(line) for p in sorted(tmp_path.rglob("impressions-*.jsonl")) for line in p.read_text().split()]
    assert [(r["request_id"], r["row"], r["fields"]) for r in lines] == [
        ("r1", 0, {"user": 0}), ("r1", 1, {"user": 1}), ("r1", 2, {"user": 2}), ("r2", 0, {"user": 7}),
        ("r2", 1, {"user": 8})]  # fmt: skip
    assert lines[-1]["probability"] == 0.75 and lines[0]["model_version"] == "v1"
    (feedback,) = [json.loads(p.read_text()) for p in tmp_path.rglob("feedback-*.jsonl")]
    assert feedback["clicked"] is True and feedback["received"] == 1764756002.0
    assert sample(metrics, "ctr_logged_rows_total", stream="impressions") == 5
    assert sample(metrics, "ctr_logged_rows_total", stream="feedback") == 1


class StuckSink:
    """A sink whose writes block until released: the queue fills behind it."""

    def __init__(self):
        self.release = threading.Event()
        self.rows = 0

    def write(self, stream, day, data):
        self.release.wait(10)
        self.rows += data.count(b"\n")

    def rotate(self, force=False):
        pass

    def close(self):
        pass


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path):
    metrics, sink = Metrics(), StuckSink()
    events = EventLog(sink, metrics, max_rows=10, sample=1.0, flush_seconds=0.01)
    events.log_impressions(impressions("first", 4))
    threading.Event().wait(0.1)  # the writer takes it and blocks in the sink
    # The 4 rows being written still count against the bound (a killed process loses at most max_rows):
    # 4 more fit in the queue, the rest are dropped.
    for i in range(5):
        events.log_impressions(impressions(f"r{i}", 4))
    assert sample(metrics, "ctr_logged_rows_dropped_total", stream="impressions", reason="queue_full") == 16
    assert events.queued_rows == 8
    assert not events.log_feedback(Feedback([{"request_id": "x", "row": 0, "clicked": True, "ts": 1.0}] * 3, 1.0))
    sink.release.set()
    events.close()
    assert sink.rows == 4 + 4
    assert events.queued_rows == 0


class FailingSink(StuckSink):
    def write(self, stream, day, data):
        raise OSError(28, "No space left on device")


def test_a_failing_sink_counts_the_rows_and_keeps_going():
    metrics = Metrics()
    events = EventLog(FailingSink(), metrics, max_rows=100, sample=1.0, flush_seconds=0.01)
    events.log_impressions(impressions("r", 5))
    events.close()
    assert sample(metrics, "ctr_logged_rows_dropped_total", stream="impressions", reason="write_error") == 5
    assert events.queued_rows == 0


def test_sampling_logs_about_the_asked_share(tmp_path):
    metrics = Metrics()
    events = EventLog(SegmentSink(tmp_path, 3600), metrics, max_rows=100_000, sample=0.25, flush_seconds=0.01, seed=0)
    for i in range(40):
        events.log_impressions(impressions(f"r{i}", 100))
    events.close()
    written = sample(metrics, "ctr_logged_rows_total", stream="impressions")
    assert 800 < written < 1200
    assert written == sum(len(p.read_text().splitlines()) for p in tmp_path.rglob("impressions-*.jsonl"))
