"""Every Prometheus metric the server exports, in one place, on a registry owned by the app.

Latency histograms have sub-millisecond buckets: a scorer that answers in 300 µs would otherwise
land in prometheus_client's first default bucket (5 ms) and every percentile would read "5 ms".
Metrics recorded on every request are ``app.counting``'s cheap families (same ``labels``/``inc``/
``observe`` calls, a tenth of the cost); the rest are prometheus_client's own.

With several workers (``PROMETHEUS_MULTIPROC_DIR`` set, which ``ctr serve`` does when
``CTR_WORKERS`` > 1) every worker writes its values to files in that directory and ``/metrics``,
whichever worker answers, sums them over all workers (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import datetime as dt
import os
from bisect import bisect_left

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app.counting import CheapCollector, CheapCounter, CheapHistogram
from contract.artifact import REASONS as REFUSAL_REASONS
from contract.score_buckets import LOGIT_EDGES, PROBABILITY_EDGES, bucket_counts

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# A loopback MGET takes ~0.2 ms: the Redis histogram needs buckets well below a millisecond.
REDIS_BUCKETS = (
    0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015, 0.0025,
    0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
)  # fmt: skip
# Micro-batch queueing is bounded by CTR_MICROBATCH_MAX_DELAY_US (default 200 µs): 10 µs resolution.
QUEUE_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.001, 0.0025, 0.01, 0.1,
)  # fmt: skip
REDIS_ERROR_KINDS = ("timeout", "connection", "auth", "response", "cluster", "other", "version_missing")
# Event-loop lag: how late a timer fires. An idle loop wakes within ~0.1 ms; a request that holds the
# loop for tens of ms (a huge body, a gc pass) shows up in the upper buckets.
LOOP_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536)
# -- observability (issue 18): stages of a request, in order; /v1/rank's encode+lookup+FM is one "rank" stage
SCORE_STAGES = ("parse", "encode", "lookup", "inference", "serialise")
RANK_STAGES = ("parse", "rank", "serialise")


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, if this process runs in it."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The server's metrics; tests build one per app, so registries never leak between apps."""

    def __init__(self, registry: CollectorRegistry | None = None, multiprocess: bool | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None if multiprocess is None else multiprocess
        self.cheap = CheapCollector()
        if self.multiprocess:
            self.cheap.use_multiprocess_files()
        self.registry.register(self.cheap)
        r, cheap = self.registry, self.cheap
        self.requests = cheap.counter(
            "ctr_http_requests_total", "HTTP requests by endpoint, method and status", ["endpoint", "method", "status"]
        )
        self.request_seconds = cheap.histogram(
            "ctr_http_request_duration_seconds", "Time from request start to response end", ["endpoint"],
            LATENCY_BUCKETS,
        )  # fmt: skip
        self.event_loop_lag = cheap.histogram(
            "ctr_event_loop_lag_seconds", "How late a timer of CTR_EVENT_LOOP_LAG_INTERVAL_SECONDS fired: time the "
            "event loop spent on other work (one observation per interval and worker)", (), LOOP_LAG_BUCKETS,
        )  # fmt: skip
        # -- the HTTP edge (app/http/protocol.py): clients that leave, connections that time out --
        self.client_disconnects = cheap.counter(
            "ctr_client_disconnects_total", "Clients gone mid-request, by stage (headers, body, response)", ["stage"]
        )
        self.connection_timeouts = cheap.counter(
            "ctr_connection_timeouts_total", "Connections closed by a deadline: idle (no request started within "
            "CTR_KEEP_ALIVE_SECONDS), request (not whole within CTR_BODY_TIMEOUT_SECONDS, answered 408), "
            "send (an answer the client did not read within CTR_BODY_TIMEOUT_SECONDS, aborted)", ["stage"],
        )  # fmt: skip
        for stage in ("headers", "body", "response"):
            self.client_disconnects.labels(stage)
        for stage in ("idle", "request", "send"):
            self.connection_timeouts.labels(stage)
        self.rows_per_request = cheap.histogram("ctr_request_rows", "Rows scored per request", (), ROWS_BUCKETS)
        self.scored_rows = cheap.counter("ctr_scored_rows_total", "Rows scored, by endpoint", ["endpoint"])
        self.rank_cache = cheap.counter(
            "ctr_rank_cache_lookups_total", "/v1/rank candidate cache lookups by result (hit, miss)", ["result"]
        )
        self.microbatch_queue_seconds = Histogram(
            "ctr_microbatch_queue_duration_seconds", "Time a /v1/score request waits for its micro-batch to run",
            buckets=QUEUE_BUCKETS, registry=r,
        )  # fmt: skip
        self.microbatch_rows = Histogram(
            "ctr_microbatch_rows", "Rows per merged micro-batch run", buckets=ROWS_BUCKETS, registry=r
        )
        self.microbatch_runs = Counter("ctr_microbatch_runs_total", "Merged micro-batch runs", registry=r)
        self.microbatch_run_seconds = Histogram(
            "ctr_microbatch_run_duration_seconds", "onnxruntime run() time of one merged micro-batch run",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter("ctr_request_errors_total", "Error responses by code", ["code"], registry=r)
        # Several workers: a version counts as served while any worker serves it (max); ready only
        # when every worker is (min); cache sizes add up (sum).
        self.model_info = Gauge(
            "ctr_model_info", "The loaded model (value 1; 0 once swapped out)", ["name", "version", "trained_at"],
            registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.model_ready = Gauge(
            "ctr_model_ready", "1 when a model is loaded and warmed", registry=r, multiprocess_mode="min"
        )
        self.model_load_failures = Counter(
            "ctr_model_load_failures_total", "Failed attempts to load a model", registry=r
        )
        # -- embedding store (Redis + in-process row cache) --
        self.cache_hits = cheap.counter(
            "ctr_store_cache_hits_total", "Distinct features of a request found in the in-process row cache"
        )
        self.cache_misses = cheap.counter(
            "ctr_store_cache_misses_total", "Distinct features of a request looked up in Redis"
        )
        self.store_absent = cheap.counter(
            "ctr_store_absent_features_total",
            "Features Redis holds no row for (unseen values), scored with their field's OOV row",
        )
        self.cache_entries = Gauge(
            "ctr_store_cache_entries", "Rows (and known-absent features) cached", registry=r, multiprocess_mode="sum"
        )
        self.cache_bytes = Gauge(
            "ctr_store_cache_bytes", "Bytes of row data held by the cache (its index adds ~100 B/entry)", registry=r,
            multiprocess_mode="sum",
        )  # fmt: skip
        self.redis_seconds = cheap.histogram(
            "ctr_redis_roundtrip_duration_seconds", "One request's pipelined Redis lookup (all shards)", (),
            REDIS_BUCKETS,
        )  # fmt: skip
        self.redis_errors = Counter("ctr_redis_errors_total", "Failed Redis calls by kind", ["kind"], registry=r)
        for kind in REDIS_ERROR_KINDS:
            self.redis_errors.labels(kind)
        self.activations = Counter("ctr_model_activations_total", "Model versions activated from Redis", registry=r)
        self.activation_refusals = Counter(
            "ctr_model_activation_refusals_total", "Active versions refused, by reason", ["reason"], registry=r
        )
        for reason in REFUSAL_REASONS:
            self.activation_refusals.labels(reason)
        # -- the impression log and feedback (app/feedback) --
        self.logged_rows = Counter(
            "ctr_logged_rows_total", "Rows written to the log, by stream", ["stream"], registry=r
        )
        self.logged_rows_dropped = Counter(
            "ctr_logged_rows_dropped_total", "Rows not logged, by stream and reason (queue_full, write_error)",
            ["stream", "reason"], registry=r,
        )  # fmt: skip
        for stream in ("impressions", "feedback"):  # zero series from the start: dashboards and alerts see them
            self.logged_rows.labels(stream)
            for reason in ("queue_full", "write_error"):
                self.logged_rows_dropped.labels(stream, reason)
        self.logged_bytes = Counter("ctr_logged_bytes_total", "Bytes written to the log, by stream", ["stream"],
                                    registry=r)  # fmt: skip
        # -- drift (app/feedback/drift.py): each worker's window; the largest is what matters --
        self.drift_psi = Gauge("ctr_drift_psi", "PSI of served vs reference (validation) scores over the window",
                               ["version"], registry=r, multiprocess_mode="max")  # fmt: skip
        self.drift_oov_ratio = Gauge("ctr_drift_oov_ratio", "OOV rate of a field over the window / its reference rate",
                                     ["field"], registry=r, multiprocess_mode="max")  # fmt: skip
        self.drift_window_rows = Gauge("ctr_drift_window_rows", "Served rows in the drift window", registry=r,
                                       multiprocess_mode="sum")  # fmt: skip
        self.shadow_rows = Counter("ctr_shadow_rows_total", "Rows also scored by the shadow version, by version",
                                   ["version"], registry=r)  # fmt: skip
        self.shadow_errors = Counter("ctr_shadow_errors_total", "Requests the shadow version could not score",
                                     registry=r)  # fmt: skip
        self.feedback_events = Counter("ctr_feedback_events_total", "Feedback events accepted, by clicked",
                                       ["clicked"], registry=r)  # fmt: skip
        # -- candidate catalog: /v1/rank by candidate id (issue 23, docs/ranking.md) --
        self.catalog_items = Gauge(
            "ctr_catalog_items", "Items in the served version's candidate catalog", registry=r, multiprocess_mode="max"
        )
        self.catalog_loads = Counter(
            "ctr_catalog_loads_total", "Catalog generations loaded, or refused (the current one kept)", ["result"],
            registry=r,
        )  # fmt: skip
        for result in ("loaded", "refused"):
            self.catalog_loads.labels(result)
        self.catalog_lookups = cheap.counter(  # on the request path: a cheap counter (app/counting.py)
            "ctr_rank_catalog_lookups_total", "/v1/rank candidate ids by result (found, unknown)", ["result"]
        )
        self.catalog_found, self.catalog_unknown = (self.catalog_lookups.labels(k) for k in ("found", "unknown"))

        # -- authentication (issue 20, app/http/auth.py; series exist only when it is on) --
        self.auth_rejections = Counter(
            "ctr_auth_rejections_total", "Requests refused for their API key, by reason (missing, malformed, "
            "unknown, scope)", ["reason"], registry=r,
        )  # fmt: skip
        self.api_keys = Gauge("ctr_api_keys", "API keys the server accepts (CTR_API_KEYS_FILE)", registry=r,
                              multiprocess_mode="max")  # fmt: skip
        self.api_keys_reloads = Counter(
            "ctr_api_keys_reloads_total", "Re-reads of a changed keys file, by result (ok; error: previous keys kept)",
            ["result"], registry=r,
        )  # fmt: skip

        # -- observability (issue 18): stages, served probabilities, OOV fields, model age --------
        self.stage_seconds = cheap.histogram(
            "ctr_stage_duration_seconds", "Time per request in each stage: parse, encode, lookup (embedding rows), "
            "inference, serialise (/v1/score); parse, rank, serialise (/v1/rank)", ["endpoint", "stage"],
            LATENCY_BUCKETS,
        )  # fmt: skip
        self.score_stages = tuple(self.stage_seconds.labels("/v1/score", s) for s in SCORE_STAGES)
        self.rank_stages = tuple(self.stage_seconds.labels("/v1/rank", s) for s in RANK_STAGES)
        self.served = cheap.histogram(
            "ctr_served_probability", "Served click probabilities by model version; buckets at logits -6..6 step 0.5 "
            "(le = their probabilities; contract/score_buckets.py)", ["version"], LOGIT_EDGES, PROBABILITY_EDGES,
        )  # fmt: skip
        self.oov_rows = cheap.counter(
            "ctr_oov_rows_total", "Scored /v1/score rows whose field was unseen in training or missing "
            "(scored with the field's OOV feature), by field", ["field"],
        )  # fmt: skip
        self.model_trained = Gauge(
            "ctr_model_trained_timestamp_seconds", "When the served model was trained (manifest created_at)",
            registry=r, multiprocess_mode="min",
        )  # fmt: skip
        self._served_model: tuple[str, str, str] | None = None
        self._oov_children: dict[tuple[str, ...], tuple[CheapCounter, ...]] = {}
        self._mp_registry: CollectorRegistry | None = None
        if self.multiprocess:
            self._mp_registry = CollectorRegistry()
            MultiProcessCollector(self._mp_registry)

    def set_model(self, name: str, version: str, trained_at: str = "") -> None:
        """The served model changed (start-up or swap): model info, training time, ready."""
        if self._served_model is not None and self.multiprocess:
            self.model_info.labels(*self._served_model).set(0)  # other workers' files cannot be cleared
        elif not self.multiprocess:
            self.model_info.clear()
        self._served_model = (name, version, trained_at)
        self.model_info.labels(name, version, trained_at).set(1)
        with_time = _timestamp(trained_at)
        if with_time is not None:
            self.model_trained.set(with_time)
        self.served.labels(version)  # the version's served-probability series exist from the swap on
        self.model_ready.set(1)

    def oov_children(self, fields: tuple[str, ...]) -> tuple[CheapCounter, ...]:
        """The OOV counter of each field, in the encoder's order (cached per field list)."""
        children = self._oov_children.get(fields)
        if children is None:
            children = self._oov_children[fields] = tuple(self.oov_rows.labels(f) for f in fields)
        return children

    def record_served(self, version: str, logits: np.ndarray, probabilities: np.ndarray) -> None:
        """One request's scores into the version's served-probability histogram (no per-row Python loop)."""
        child: CheapHistogram = self.served.labels(version)
        if len(logits) == 1:  # a numpy call costs µs; one bisect costs 0.2 µs
            child.counts[bisect_left(LOGIT_EDGES, float(logits[0]))] += 1
            child.sum += float(probabilities[0])
        else:
            child.add(bucket_counts(logits), float(probabilities.sum()))

    @staticmethod
    def record_oov(children: tuple[CheapCounter, ...], counts: list[int]) -> None:
        for child, count in zip(children, counts, strict=True):
            if count:
                child.value += count

    def exposition(self) -> bytes:
        """The text format; with several workers, the sum over every worker's files."""
        if self._mp_registry is not None:
            self.cheap.flush()  # this worker's latest values first
            return generate_latest(self._mp_registry)
        return generate_latest(self.registry)


def _timestamp(iso: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None
