"""Server settings: environment variables with the ``CTR_`` prefix (e.g. ``CTR_MODEL_DIR``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.toml_keys import did_you_mean

PREFIX = "CTR_"
# CTR_* variables read by something other than the settings: the CLI's server URL, the data cache, the venv.
OTHER_VARIABLES = frozenset({"CTR_URL", "CTR_CACHE_DIR", "CTR_VENV"})
# Model names become part of Redis keys and SCAN patterns: no glob characters, braces or colons.
REDIS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Paths that may be answered without an API key when authentication is on (docs/security.md).
PUBLIC_PATH_CHOICES = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/v1/model")


class Settings(BaseSettings):
    """Built once by ``create_app`` (or the CLI) and passed down; never a module-level singleton."""

    # extra="ignore": unknown CTR_* variables do not stop the server, but unknown_variables() names them.
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    model_dir: Path = Field(Path("models/ml100k"), description="model directory (or one version directory)")
    model_version: str | None = Field(None, description="pin a version; default: ACTIVE, else the newest")
    store: Literal["memory", "redis"] = Field("memory", description="where embeddings are looked up")

    max_records: int = Field(4096, ge=1, le=1_000_000, description="records per /v1/score request")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="request bodies above this get HTTP 413")
    offload_rows: int = Field(2048, ge=1, description="batches this large are encoded and scored off the event loop")
    max_candidates: int = Field(2000, ge=1, le=1_000_000, description="candidates per /v1/rank request")
    rank_offload_candidates: int = Field(
        500, ge=1, description="rank requests with this many new candidates are encoded off the event loop"
    )
    rank_cache_size: int = Field(
        50_000, ge=0, description="candidates whose terms /v1/rank keeps per model version (0 = no cache)"
    )
    hot_path: bool = Field(
        True, description="answer /v1/score and /v1/rank in a pure-ASGI front (same answers as the FastAPI routes)"
    )
    otel_telemetry: bool = Field(
        False,
        description="FastAPI's native OpenTelemetry (spans, metrics, logs to a configured OTel provider); "
        "off by default: the server exports Prometheus metrics, and the per-request checks cost CPU",
    )
    encode_memo_entries: int = Field(
        16_384, ge=0, description="raw values memoised per field by the encoder's fast path (0 = off)"
    )
    explain_offload_rows: int = Field(32, ge=1, description="explanations of this many rows run off the event loop")
    gc_gen0_threshold: int = Field(
        10_000, ge=0, description="young-generation GC threshold after start-up (0 = Python's 700, no freeze)"
    )
    microbatch_max_rows: int = Field(
        0, ge=0, description="merge concurrent small /v1/score requests into runs of up to this many rows (0 = off)"
    )
    microbatch_max_delay_us: int = Field(
        200, ge=0, description="longest a request waits for others to join its run (with CTR_MICROBATCH_MAX_ROWS)"
    )
    ort_intra_threads: int = Field(1, ge=0, description="onnxruntime intra-op threads (0 = its default)")
    model_poll_seconds: float = Field(
        2.0,
        gt=0,
        description="how often an in-process server re-reads ACTIVE (a new version is swapped in), "
        "and retries while nothing could be loaded",
    )
    drain_seconds: float = Field(
        5.0, ge=0, description="after a swap, the old version is closed this much later (its requests finish)"
    )

    # -- the impression log and feedback (app/feedback); docs/feedback.md --------------------------
    impression_log: Literal["off", "file", "redis"] = Field(
        "off", description="log every scored row (and /v1/feedback) to daily files, or to a Redis stream"
    )
    impression_dir: Path = Field(Path("logs"), description="where the file log's date=YYYY-MM-DD/ segments go")
    impression_sample: float = Field(1.0, gt=0, le=1, description="share of scored rows logged (feedback: all)")
    impression_queue_rows: int = Field(
        100_000, ge=1, description="rows the log may queue; beyond, rows are dropped and counted, never waited for"
    )
    impression_rotate_seconds: float = Field(300.0, gt=0, description="a log segment becomes visible this often")
    impression_stream_maxlen: int = Field(1_000_000, ge=1, description="Redis stream entries kept (approximate)")

    drift_seconds: float = Field(10.0, gt=0, description="how often the drift gauges are updated")
    drift_window_seconds: float = Field(600.0, gt=0, description="the traffic the drift gauges compare")
    drift_min_rows: int = Field(500, ge=1, description="below this many rows in the window the drift gauges read NaN")
    shadow_fraction: float = Field(
        0.1,
        ge=0,
        le=1,
        description="share of /v1/score requests also scored by the shadow version, after the "
        "response is sent (only when `ctr models shadow` named one)",
    )

    # -- Redis store (CTR_STORE=redis); docs/redis.md ----------------------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="redis:// or rediss:// (TLS) host, port and db; no password here"
    )
    redis_model: str | None = Field(None, description="model name in Redis (required with CTR_STORE=redis)")
    redis_cluster: bool = Field(False, description="the URL names one node of a Redis Cluster")
    redis_username: str | None = Field(None, description="ACL user (default: Redis' default user)")
    redis_password: SecretStr | None = Field(None, description="password of the ACL user; never logged")
    redis_tls_ca_file: Path | None = Field(None, description="CA bundle that signed the server certificate")
    redis_tls_cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    redis_tls_key_file: Path | None = Field(None, description="client private key (mutual TLS)")
    redis_tls_verify: bool = Field(True, description="verify the server certificate and host name")
    redis_timeout_ms: float = Field(
        20.0,
        gt=0,
        le=60_000,
        description="deadline of one request's row lookup (past it: 503); it includes event-loop queueing, "
        "so under saturation it must exceed concurrent requests x their CPU time (docs/redis.md)",
    )
    redis_connect_timeout_ms: float = Field(250.0, gt=0, description="TCP/TLS connect timeout")
    redis_load_timeout_ms: float = Field(10_000.0, gt=0, description="reading a version (manifest, model.onnx)")
    redis_max_connections: int = Field(64, ge=1, description="connection pool size (per node in a cluster)")
    redis_cache_entries: int = Field(1_000_000, ge=0, description="in-process row cache size; 0 disables it")
    redis_cache_mb: float = Field(256.0, ge=0, description="in-process row cache budget for row bytes")
    redis_poll_seconds: float = Field(2.0, gt=0, description="how often the active pointer is polled")
    redis_fallback_dir: Path | None = Field(
        None, description="artifact served in-process while Redis cannot be read at start-up"
    )

    # -- observability (issue 18); docs/observability.md ---------------------------------------------
    served_metrics: bool = Field(
        False,
        description="per-request served-probability histogram (per model version) and per-field OOV counts, "
        "which the drift gauges read; off by default: they cost ~8% of a single-record request's server CPU "
        "(reports/serving_bench), past the 5% a default may cost; deploy/ turns them on",
    )
    metrics_dir: Path | None = Field(
        None,
        description="with CTR_WORKERS > 1: where the workers' metric files live (prometheus_client multiprocess "
        "mode); `ctr serve` empties it of *.db files at start-up; default: a new temporary directory",
    )
    metrics_flush_seconds: float = Field(
        1.0, gt=0, le=60, description="with several workers: how often a worker writes its metrics to its files"
    )

    event_loop_lag_interval_seconds: float = Field(
        0.25,
        ge=0,
        le=60,
        description="a background task sleeps this long and records how late it woke up "
        "(ctr_event_loop_lag_seconds: time the event loop was busy with something else); 0 = off",
    )

    # -- the HTTP edge: slow and abusive clients, shutdown (app/http/protocol.py); docs/security.md ----
    body_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a request must arrive whole (request line, headers and body) within this many "
        "seconds of its first byte; past it: HTTP 408 in the error body, connection closed. An answer that "
        "fills the send buffer (a client not reading) must leave within as long, or the connection is aborted",
    )
    max_header_bytes: int = Field(
        64 << 10,
        ge=1024,
        description="request line and headers above this get HTTP 431 in the error body, "
        "connection closed (httptools sets no limit of its own)",
    )
    keep_alive_seconds: int = Field(
        5,
        ge=1,
        description="an idle connection (new, or between requests) is closed after this long "
        "(uvicorn's timeout_keep_alive, extended to connections that never sent a byte)",
    )
    body_budget_bytes: int = Field(
        16 << 20,
        ge=1024,
        description="per worker: request body bytes being received or handled at once; "
        "a request that would go past it gets HTTP 503 with Retry-After (bounded memory)",
    )
    limit_concurrency: int = Field(
        1000,
        ge=1,
        description="per worker: open connections (and running requests) past which new requests "
        "get HTTP 503 busy in the error body, with Retry-After (app/http/protocol.py)",
    )
    backlog: int = Field(2048, ge=1, description="connections the kernel queues before the server accepts them")
    shutdown_timeout_seconds: int = Field(
        20,
        ge=1,
        description="on SIGTERM, in-flight requests get this long to finish (uvicorn's "
        "timeout_graceful_shutdown); then they are cancelled and the impression log is flushed",
    )

    # -- authentication (issue 20, optional); docs/security.md ---------------------------------------
    api_keys_file: Path | None = Field(
        None,
        description="TOML file of API keys (`ctr keys add`): set = authentication on, every endpoint but "
        "CTR_AUTH_PUBLIC_PATHS needs `Authorization: Bearer <key>` or `X-API-Key`, and /v1/admin/* exists",
    )
    auth_public_paths: Annotated[tuple[str, ...], NoDecode] = Field(
        ("/healthz", "/readyz"),
        description="with CTR_API_KEYS_FILE: paths answered without a key, comma-separated, among "
        + ", ".join(PUBLIC_PATH_CHOICES)
        + " (empty: none)",
    )
    api_keys_reload_seconds: float = Field(
        1.0, gt=0, le=60, description="how often the keys file is checked for changes (revocation without restart)"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="log level")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="json lines, readable text, or auto: text on a terminal, else json (contract/logs.py)"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("must look like redis://host:port/db or rediss://host:port/db")
        if parts.password is not None or parts.username is not None:
            # A URL ends up in logs, process lists and error messages; a SecretStr does not.
            raise ValueError("must not carry credentials: set CTR_REDIS_USERNAME and CTR_REDIS_PASSWORD instead")
        return url

    @field_validator("redis_model")
    @classmethod
    def _redis_model(cls, name: str | None) -> str | None:
        if name is not None and not REDIS_NAME.match(name):
            raise ValueError("must be 1-100 letters, digits, '_', '.' or '-'")
        return name

    @field_validator("auth_public_paths", mode="before")
    @classmethod
    def _public_paths(cls, value: object) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value  # the variable is comma-separated
        if not isinstance(items, list | tuple):
            raise ValueError("must be comma-separated paths")
        paths = tuple(str(p).strip() for p in items if str(p).strip())
        for path in paths:
            if path not in PUBLIC_PATH_CHOICES:
                # /v1/score, /v1/feedback and /v1/admin/* are never public: unset CTR_API_KEYS_FILE to serve openly
                raise ValueError(f"{path!r} cannot be public; choose among {', '.join(PUBLIC_PATH_CHOICES)}")
        if "/docs" in paths and "/openapi.json" not in paths:
            raise ValueError("/docs renders /openapi.json: make both public or neither")
        return paths

    @model_validator(mode="after")
    def _budget_holds_a_body(self) -> Settings:
        if self.body_budget_bytes < self.max_body_bytes:
            raise ValueError("CTR_BODY_BUDGET_BYTES must be at least CTR_MAX_BODY_BYTES, or no body of that size fits")
        return self

    @model_validator(mode="after")
    def _redis_needs_a_model(self) -> Settings:
        if self.store == "redis" and self.redis_model is None:
            raise ValueError("CTR_STORE=redis needs CTR_REDIS_MODEL (the model name given to `ctr publish`)")
        return self

    @property
    def redis_address(self) -> str:
        """``host:port`` of the Redis URL, safe to log."""
        parts = urlsplit(self.redis_url)
        return f"{parts.hostname}:{parts.port or 6379}"


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``CTR_*`` variable that nothing reads (a typo'd setting is otherwise silently ignored),
    naming the closest known variable."""
    environ = os.environ if environ is None else environ
    known = {PREFIX + name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    return [
        f"{name} is not a setting of this server and is ignored{did_you_mean(name, known)}"
        for name in sorted(environ)
        if name.startswith(PREFIX) and name not in known
    ]
