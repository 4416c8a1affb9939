"""contract/logs.py: one JSON object per line off a terminal, readable lines on one, request context on each."""

import io
import json
import logging

import pytest

from contract.logs import MODEL_VERSION, REQUEST_ID, configure


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_context_and_extra_fields(restore_logging):
    out = io.StringIO()
    configure("info", "auto", out)  # not a terminal: JSON
    rid, version = REQUEST_ID.set("r-1"), MODEL_VERSION.set("v9")
    try:
        logging.getLogger("app").info("swapped to %s", "v9", extra={"event": "swap"})
        logging.getLogger("app").debug("not at info")
    finally:
        REQUEST_ID.reset(rid)
        MODEL_VERSION.reset(version)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["msg"] == "swapped to v9" and record["level"] == "info" and record["logger"] == "app"
    assert record["request_id"] == "r-1" and record["model_version"] == "v9" and record["event"] == "swap"
    assert record["ts"].endswith("Z")


def test_a_terminal_gets_text_and_tracebacks(restore_logging):
    out = Terminal()
    configure("debug", "auto", out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("training").exception("step failed", extra={"step": "export"})
    text = out.getvalue()
    assert " ERROR training: step failed  step=export" in text
    assert "ValueError: boom" in text and not text.lstrip().startswith("{")


def test_configuring_twice_keeps_one_handler(restore_logging):
    out = io.StringIO()
    configure("info", "json", out)
    configure("warning", "json", out)
    logging.getLogger("x").warning("once")
    assert len(out.getvalue().splitlines()) == 1


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="log format"):
        configure("info", "xml")
