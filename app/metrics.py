"""Every Prometheus metric the server exports, in one place, on a registry owned by the app.

Latency histograms have sub-millisecond buckets: a scorer that answers in 300 µs would otherwise
land in prometheus_client's first default bucket (5 ms) and every percentile would read "5 ms".
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
REFUSAL_REASONS = ("missing", "incomplete", "corrupt", "incompatible")
ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 16384, 65536)


class Metrics:
    """The server's metrics; tests build one per app, so registries never leak between apps."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ctr_http_requests_total", "HTTP requests by endpoint, method and status", ["endpoint", "method", "status"],
            registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "ctr_http_request_duration_seconds", "Time from request start to response end", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            "ctr_inference_duration_seconds", "onnxruntime run() time per request (per merged run if micro-batched)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.encode_seconds = Histogram(
            "ctr_encode_duration_seconds", "Raw records to feature ids, per request", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.rows_per_request = Histogram(
            "ctr_request_rows", "Rows scored per request", buckets=ROWS_BUCKETS, registry=r
        )
        self.scored_rows = Counter("ctr_scored_rows_total", "Rows scored", registry=r)
        self.rank_seconds = Histogram(
            "ctr_rank_duration_seconds", "/v1/rank scoring per request: cache, encoding, gather, FM",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.rank_cache = Counter(
            "ctr_rank_cache_lookups_total", "/v1/rank candidate cache lookups by result (hit, miss)", ["result"],
            registry=r,
        )  # fmt: skip
        self.microbatch_queue_seconds = Histogram(
            "ctr_microbatch_queue_duration_seconds", "Time a /v1/score request waits for its micro-batch to run",
            buckets=QUEUE_BUCKETS, registry=r,
        )  # fmt: skip
        self.microbatch_rows = Histogram(
            "ctr_microbatch_rows", "Rows per merged micro-batch run", buckets=ROWS_BUCKETS, registry=r
        )
        self.microbatch_runs = Counter("ctr_microbatch_runs_total", "Merged micro-batch runs", registry=r)
        self.errors = Counter("ctr_request_errors_total", "Error responses by code", ["code"], registry=r)
        self.model_info = Gauge("ctr_model_info", "The loaded model (value 1)", ["name", "version"], registry=r)
        self.model_ready = Gauge("ctr_model_ready", "1 when a model is loaded and warmed", registry=r)
        self.model_load_failures = Counter(
            "ctr_model_load_failures_total", "Failed attempts to load a model", registry=r
        )
        # -- embedding store (Redis + in-process row cache) --
        self.cache_hits = Counter(
            "ctr_store_cache_hits_total", "Distinct features of a request found in the in-process row cache",
            registry=r,
        )  # fmt: skip
        self.cache_misses = Counter(
            "ctr_store_cache_misses_total", "Distinct features of a request looked up in Redis", registry=r
        )
        self.store_absent = Counter(
            "ctr_store_absent_features_total",
            "Features Redis holds no row for (unseen values), scored with their field's OOV row",
            registry=r,
        )
        self.cache_entries = Gauge("ctr_store_cache_entries", "Rows (and known-absent features) cached", registry=r)
        self.cache_bytes = Gauge(
            "ctr_store_cache_bytes", "Bytes of row data held by the cache (its index adds ~100 B/entry)", registry=r
        )
        self.redis_seconds = Histogram(
            "ctr_redis_roundtrip_duration_seconds", "One request's pipelined Redis lookup (all shards)",
            buckets=REDIS_BUCKETS, registry=r,
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

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name, version).set(1)
        self.model_ready.set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
