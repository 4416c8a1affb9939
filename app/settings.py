"""Server settings: environment variables with the ``CTR_`` prefix (e.g. ``CTR_MODEL_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Built once by ``create_app`` (or the CLI) and passed down; never a module-level singleton."""

    model_config = SettingsConfigDict(env_prefix="CTR_", frozen=True, extra="ignore")

    model_dir: Path = Field(Path("models/ml100k"), description="model directory (or one version directory)")
    model_version: str | None = Field(None, description="pin a version; default: ACTIVE, else the newest")
    store: Literal["memory"] = Field("memory", description="where embeddings are looked up")

    max_records: int = Field(4096, ge=1, le=1_000_000, description="records per /v1/score request")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="request bodies above this get HTTP 413")
    offload_rows: int = Field(2048, ge=1, description="batches this large are encoded and scored off the event loop")
    ort_intra_threads: int = Field(1, ge=0, description="onnxruntime intra-op threads (0 = its default)")
    load_retry_seconds: float = Field(5.0, gt=0, description="retry interval while no model could be loaded")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
