"""Checks for TOML documents a user writes (dataset schemas, the retraining config): every error names its key.

``typed``, ``choice`` and ``only_keys`` raise the error class they are given (a subclass of
:class:`ConfigKeyError`), so each document keeps its own exception type. An unknown key suggests the
closest known one, because a typo'd key would otherwise read as "unknown" with no hint.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "table", list: "list"}


class ConfigKeyError(ValueError):
    """A document is invalid at ``key``; the message starts with the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def read_toml(path: Path, what: str, error: type[ConfigKeyError] = ConfigKeyError) -> dict[str, Any]:
    """The document's tables; a missing file or bad TOML is ``error`` at the file's path."""
    if not path.is_file():
        raise error(str(path), f"{what} file not found")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise error(str(path), f"not valid TOML: {exc}") from exc


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def typed(
    key: str, value: Any, kind: type, required: bool = False, error: type[ConfigKeyError] = ConfigKeyError
) -> Any:
    """``value`` when it is a ``kind`` (None when absent and not required); else ``error`` at ``key``."""
    if value is None:
        if required:
            raise error(key, "is required")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # TOML writes 1 for 1.0; a number field takes both
    # bool is an int subclass; `min_count = true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        name = _TYPE_NAMES.get(kind, kind.__name__)
        raise error(key, f"must be {'an' if name[0] in 'aeiou' else 'a'} {name}, got {value!r}")
    return value


def choice(key: str, value: Any, choices: tuple[str, ...], error: type[ConfigKeyError] = ConfigKeyError) -> str:
    if value not in choices:
        raise error(key, f"{value!r} is not one of {', '.join(choices)}")
    return value


def only_keys(at: str, raw: dict[str, Any], allowed: set[str], error: type[ConfigKeyError] = ConfigKeyError) -> None:
    """Refuse a key of table ``at`` (``""`` for the top level) that is not in ``allowed``."""
    for key in raw:
        if key not in allowed:
            raise error(f"{at}.{key}" if at else key, f"unknown key{did_you_mean(key, allowed)}")


_TOML_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "Path": str}


def dataclass_values(
    at: str, table: dict[str, Any], kind: type, error: type[ConfigKeyError], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The keys of ``table`` checked against the fields of the dataclass ``kind`` and their annotated types.

    Annotations are read as strings (``"int"``, ``"Path | None"``); ``Path`` fields take a TOML string.
    """
    annotations = {f.name: str(f.type) for f in dataclasses.fields(kind)}
    only_keys(at, table, set(annotations), error)
    for key in required:
        if key not in table:
            raise error(f"{at}.{key}", "is required")
    values = {}
    for key, value in table.items():
        base = annotations[key].replace(" | None", "")
        checked = typed(f"{at}.{key}", value, _TOML_TYPES.get(base, object), error=error)
        values[key] = Path(checked) if base == "Path" else checked
    return values
