"""``ctr serve``: run the scoring server under uvicorn (settings from flags and ``CTR_*`` variables)."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the active model over HTTP",
        description="Run the scoring server (uvicorn + uvloop + httptools). Every option is also a CTR_* "
        "environment variable (e.g. CTR_MODEL_DIR); see app/settings.py.",
    )
    serve.add_argument("--model-dir", default=None, help="model directory or version directory [CTR_MODEL_DIR]")
    serve.add_argument("--version", default=None, help="pin a model version [CTR_MODEL_VERSION]")
    serve.add_argument("--host", default=None, help="bind address [CTR_HOST, default 127.0.0.1]")
    serve.add_argument("--port", type=int, default=None, help="port [CTR_PORT, default 8000]")
    serve.add_argument("--workers", type=int, default=None, help="worker processes [CTR_WORKERS, default 1]")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.settings import Settings
    from contract.logs import configure as configure_logs

    overrides = {"MODEL_DIR": args.model_dir, "MODEL_VERSION": args.version, "HOST": args.host,
                 "PORT": args.port, "WORKERS": args.workers}  # fmt: skip
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"CTR_{key}"] = str(value)  # workers are separate processes: pass settings by env
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)  # the supervisor's lines too (workers configure their own)
    if settings.workers > 1:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prepare_metrics_dir(settings.metrics_dir))
    # uvicorn drains on SIGTERM, then raises the signal again under the handler that was there before it,
    # to end "by the signal" (exit status -15). A drained server has ended well: this handler makes it 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="app.http.protocol:EdgeProtocol",  # httptools, with deadlines for slow clients (docs/security.md)
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        backlog=settings.backlog,
        log_level=settings.log_level,
        access_log=False,
        log_config=None,  # contract/logs.py formats every line, uvicorn's included
    )
    return 0


def prepare_metrics_dir(directory: Path | None) -> Path:
    """The workers' metrics directory, emptied of a previous run's files (prometheus_client multiprocess mode).

    Several workers share their counts through files in this directory (``app.metrics``). Files
    left by an earlier server would be summed in, so the launcher removes them before any worker
    starts; only ``*.db`` files are removed, never the directory or anything else in it.
    """
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="ctr-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory
