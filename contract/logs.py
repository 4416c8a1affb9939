"""Structured logs, the same on both sides: JSON lines for machines, readable lines for a person.

The server and the offline jobs (``ctr train``, ``ctr retrain``) call :func:`configure` once at
start-up. Where stderr is not a terminal (a container, systemd, a CronJob) every record is one JSON
object per line; on a terminal it is one readable line. Each line carries the request id and the
model version of the request (or job) it belongs to, taken from context variables the server sets
per request, and any ``extra={...}`` fields the call site gives::

    {"ts": "2026-12-03T13:40:01.123Z", "level": "info", "logger": "app", "msg": "serving ml100k v3",
     "request_id": "4f1c...", "model_version": "v3", "event": "swap"}

Standard library only: the contract is imported by the torch-free server and by training.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
MODEL_VERSION: ContextVar[str | None] = ContextVar("model_version", default=None)
FORMATS = ("auto", "json", "text")

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
# (uvicorn adds color_message, an ANSI-coloured copy of msg.)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message",
}  # fmt: skip
_HANDLER_NAME = "ctr"


def _context(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if (rid := REQUEST_ID.get()) is not None:
        fields["request_id"] = rid
    if (version := MODEL_VERSION.get()) is not None:
        fields["model_version"] = version
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    return fields


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, context fields, and exc (a traceback) if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``13:40:01.123 INFO  app: message  request_id=... model_version=...`` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.created % 1 * 1000):03d}"
        fields = " ".join(f"{k}={v}" for k, v in _context(record).items())
        line = f"{clock} {record.levelname:<5} {record.name}: {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send every logger's records to ``stream`` (stderr) in one format; calling it again replaces the setup.

    ``fmt="auto"`` writes JSON lines unless the stream is a terminal. uvicorn's own loggers are routed
    here too, so a server's every line has the same shape.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    text = fmt == "text" or (fmt == "auto" and (stream or sys.stderr).isatty())
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()  # uvicorn installs its own; one format for the whole process
        logger.propagate = True
    # uvicorn.access is left as uvicorn set it: its access log is off unless asked for.
