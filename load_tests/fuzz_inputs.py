"""Hostile inputs for the fuzzers, and the one check every error answer must pass.

Shared by ``load_tests.fuzz`` (the schemathesis run and its report) and the property tests under
``tests/`` (``tests/app/http/test_fuzz_*.py``, ``tests/contract/test_fuzz_values.py``).

* :func:`json_values`: any JSON value — null, booleans, integers far beyond 64 bits, floats (NaN and
  ±inf only where the target is Python rather than JSON text), any unicode text including lone
  surrogates and control characters, and lists and objects of those, nested.
* :func:`error_problem`: what is wrong with an error answer, or None — every 4xx is the one error body
  ``{"error", "detail", "field"}`` (app/errors.py) with the code of its status, and a 422 names the
  request key at fault unless the body is not a JSON object at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import strategies as st

# The codes each status may carry (app/errors.py, app/http/responses.py).
CODES = {
    400: {"malformed_json", "bad_request"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    413: {"payload_too_large"},
    422: {"invalid_request"},
}
ERROR_KEYS = {"error", "detail", "field"}


def json_scalars(*, wire: bool) -> st.SearchStrategy[Any]:
    """Leaves of a JSON value. ``wire``: only what JSON text can carry (no NaN, ±inf or lone surrogates)."""
    text = st.text(st.characters(codec="utf-8") if wire else st.characters(), max_size=12)
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),  # past int64 and uint64: orjson turns them to floats
        st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**400]),
        st.floats(allow_nan=not wire, allow_infinity=not wire),
        st.sampled_from([0.5, -0.0, 1e308, -1e308, 5e-324, 1e30, 2.0**53 + 2]),
        text,
        st.sampled_from(["", " ", "\x00", "\u202e", "\ufeff", "１２", "٣", "²", "--5", " 07 ", "a|b|c|d|e", "a:1|b:x"]),
    )


def json_values(*, wire: bool = True, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, nested lists and objects of :func:`json_scalars`."""
    keys = st.one_of(st.text(st.characters(codec="utf-8"), max_size=6), st.sampled_from(["a", "1", "x"]))
    return st.recursive(
        json_scalars(wire=wire),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=max_leaves,
    )


def dumps(value: Any, *, ascii: bool = False) -> bytes:
    """JSON text of ``value`` as a client might write it: integers past 64 bits as digits (JSON allows any
    length); NaN and ±inf as Python writes them (``NaN``, not JSON); a lone surrogate as ``\\ud800`` with
    ``ascii``, else as the bytes no UTF-8 decoder accepts."""
    return json.dumps(value, ensure_ascii=ascii).encode("utf-8", "surrogatepass")


def body_keys(value: Any) -> set[str]:
    """Every object key anywhere in a JSON value."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def schema_names(schema: Any) -> set[str]:
    """Every property name a JSON schema (an OpenAPI request body) declares, at any depth."""
    names: set[str] = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            names.update(item.get("properties", {}) if isinstance(item.get("properties"), dict) else ())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def error_problem(
    status: int, headers: Mapping[str, str], content: bytes, sent: Any = None, known: Iterable[str] = ()
) -> str | None:
    """What is wrong with one answer as an error answer, or None when it is fine (or not an error).

    ``sent`` is the request body as parsed JSON (None when it was not JSON); ``known`` are the keys the
    endpoint's schema declares. A 422's ``field`` must be a key of ``sent`` or of ``known``, and may be
    null only when ``sent`` is not a JSON object (the whole body is at fault, not one key).
    """
    if status < 400:
        return None
    if status >= 500:
        return f"server error {status}"
    media = headers.get("content-type", "")
    if not media.startswith("application/json"):
        return f"{status} answered as {media!r}, not application/json"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{status} body is not JSON: {content[:80]!r}"
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return f"{status} body is not the error body {{error, detail, field}}: {content[:120]!r}"
    code, detail, field = body["error"], body["detail"], body["field"]
    if not isinstance(code, str) or not isinstance(detail, str) or not detail:
        return f"{status} body has a non-string code or an empty detail: {content[:120]!r}"
    if field is not None and not isinstance(field, str):
        return f"{status} body's field is neither a string nor null: {field!r}"
    if code not in CODES.get(status, {code}):
        return f"status {status} with code {code!r} (expected one of {sorted(CODES[status])})"
    if status == 422:
        if field is None and isinstance(sent, dict):
            return f"422 about a JSON object names no field: {detail!r}"
        if field is not None and field not in body_keys(sent) and field not in set(known):
            return f"422 names {field!r}, which is neither in the request nor in the schema"
    return None
