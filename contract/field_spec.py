"""One ``[[fields]]`` entry of a dataset schema: what a field is, and its validation (errors name the key)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any

from contract.toml_keys import ConfigKeyError, choice, only_keys, typed

FIELD_KINDS = ("categorical", "multi_categorical", "numeric")
SIDES = ("context", "candidate")
DTYPES = ("string", "int")
WEIGHTINGS = ("one", "mean", "given")
TRANSFORM = re.compile(r"^(prefix:[1-9]\d*|lower)$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaError(ConfigKeyError):
    """A schema file is invalid; the message starts with the key at fault."""


check_type = functools.partial(typed, error=SchemaError)
check_choice = functools.partial(choice, error=SchemaError)
check_keys = functools.partial(only_keys, error=SchemaError)


@dataclass(frozen=True)
class FieldSpec:
    """One input field of the model.

    ``source`` is the raw column (and the request key) the field is derived from; it defaults to
    ``name``. Several fields may share one source (e.g. a prefix and the full value).
    """

    name: str
    kind: str = "categorical"
    source: str = ""
    side: str = "context"
    required: bool = False
    min_count: int = 1
    dtype: str = "string"
    transform: str | None = None
    # multi_categorical; weighting "given" reads a weight with each value ({value: weight})
    separator: str | None = None
    weighting: str = "one"
    max_length: int = 0
    # numeric: exactly one of boundaries, buckets (quantiles fitted on train) or log
    boundaries: tuple[float, ...] | None = None
    buckets: int = 0
    log: bool = False

    @property
    def slots(self) -> int:
        """Number of (id, value) slots the field occupies in an encoded row."""
        return self.max_length if self.kind == "multi_categorical" else 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.boundaries is not None:
            out["boundaries"] = list(self.boundaries)
        return out


_FIELD_KEYS = {
    "name", "kind", "source", "side", "required", "min_count", "dtype", "transform",
    "separator", "weighting", "max_length", "boundaries", "buckets", "log",
}  # fmt: skip


def parse_field(i: int, raw: Any) -> FieldSpec:
    at = f"fields[{i}]"
    raw = check_type(at, raw, dict)
    check_keys(at, raw, _FIELD_KEYS)
    name = check_type(f"{at}.name", raw.get("name"), str, required=True)
    if not NAME.match(name):
        raise SchemaError(f"{at}.name", f"{name!r} must be an identifier (letters, digits, '_')")
    kind = check_choice(f"{at}.kind", raw.get("kind", "categorical"), FIELD_KINDS)
    source = check_type(f"{at}.source", raw.get("source", name), str)
    side = check_choice(f"{at}.side", raw.get("side", "context"), SIDES)
    required = check_type(f"{at}.required", raw.get("required", False), bool)
    min_count = check_type(f"{at}.min_count", raw.get("min_count", 1), int)
    if min_count < 1:
        raise SchemaError(f"{at}.min_count", "must be >= 1")
    dtype = check_choice(f"{at}.dtype", raw.get("dtype", "string"), DTYPES)
    transform = check_type(f"{at}.transform", raw.get("transform"), str)
    if transform is not None and not TRANSFORM.match(transform):
        raise SchemaError(f"{at}.transform", f"{transform!r} must be 'prefix:<n>' or 'lower'")
    separator = check_type(f"{at}.separator", raw.get("separator"), str)
    weighting = check_choice(f"{at}.weighting", raw.get("weighting", "one"), WEIGHTINGS)
    max_length = check_type(f"{at}.max_length", raw.get("max_length", 0), int)
    boundaries = check_type(f"{at}.boundaries", raw.get("boundaries"), list)
    buckets = check_type(f"{at}.buckets", raw.get("buckets", 0), int)
    log = check_type(f"{at}.log", raw.get("log", False), bool)

    if kind == "multi_categorical":
        if max_length < 1:
            raise SchemaError(f"{at}.max_length", "multi_categorical fields need max_length >= 1")
        if separator == "":
            raise SchemaError(f"{at}.separator", "must not be empty")
    else:
        for key in ("separator", "max_length", "weighting"):
            if _set(raw, key):
                raise SchemaError(f"{at}.{key}", "only applies to multi_categorical fields")
    if kind == "numeric":
        chosen = [k for k in ("boundaries", "buckets", "log") if raw.get(k) not in (None, 0, False)]
        if len(chosen) != 1:
            raise SchemaError(f"{at}", "numeric fields need exactly one of boundaries, buckets or log = true")
        if boundaries is not None:
            if not boundaries or not all(isinstance(b, int | float) for b in boundaries):
                raise SchemaError(f"{at}.boundaries", "must be a non-empty list of numbers")
            if any(b >= c for b, c in itertools.pairwise(boundaries)):
                raise SchemaError(f"{at}.boundaries", "must be strictly increasing")
        if buckets < 0 or buckets == 1:
            raise SchemaError(f"{at}.buckets", "must be >= 2")
        for key in ("transform", "dtype", "min_count"):
            if _set(raw, key):
                raise SchemaError(f"{at}.{key}", "does not apply to numeric fields")
    else:
        for key in ("boundaries", "buckets", "log"):
            if _set(raw, key):
                raise SchemaError(f"{at}.{key}", "only applies to numeric fields")
    return FieldSpec(
        name=name,
        kind=kind,
        source=source,
        side=side,
        required=required,
        min_count=min_count,
        dtype=dtype,
        transform=transform,
        separator=separator,
        weighting=weighting,
        max_length=max_length,
        boundaries=tuple(float(b) for b in boundaries) if boundaries is not None else None,
        buckets=buckets,
        log=log,
    )


def _set(raw: dict[str, Any], key: str) -> bool:
    """Whether a key holds a non-default value (a manifest's copy of a schema spells out every default)."""
    return key in raw and raw[key] != _FIELD_DEFAULTS[key]


_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FieldSpec)}
