"""Dataset schema: what a user declares about their click log, validated on load.

A schema is a TOML file::

    name = "ml100k"
    timestamp = "timestamp"            # optional; needed by the time split

    [source]                           # how to read the data (interpreted by training.data)
    format = "csv"

    [label]
    column = "rating"
    rule = ">= 4"                      # or omit for a column that is already 0/1

    [split]
    method = "time"                    # time | random | given
    sizes = [0.8, 0.1, 0.1]
    # files = { train = "train.csv", validation = "valid.csv", test = "test.csv" }   # method = "given"

    [[fields]]
    name = "user_id"
    kind = "categorical"               # categorical | multi_categorical | numeric
    side = "context"                   # context | candidate
    required = true
    min_count = 2

Every error names the offending key (``fields[3].kind``), so a user can fix the file without
reading this module. The ``[source]`` table is only carried here; its keys are validated by the
reader that interprets them (``training.data.source``), with errors naming ``source.<key>``.
``docs/datasets.md`` is the reference of every key.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contract.toml_keys import ConfigKeyError, choice, only_keys, typed

FIELD_KINDS = ("categorical", "multi_categorical", "numeric")
SIDES = ("context", "candidate")
DTYPES = ("string", "int")
WEIGHTINGS = ("one", "mean", "given")
SPLIT_METHODS = ("time", "random", "given")
LABEL_RULE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
TRANSFORM = re.compile(r"^(prefix:[1-9]\d*|lower)$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaError(ConfigKeyError):
    """A schema file is invalid; the message starts with the key at fault."""


_typed = functools.partial(typed, error=SchemaError)
_choice = functools.partial(choice, error=SchemaError)
_only_keys = functools.partial(only_keys, error=SchemaError)


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


@dataclass(frozen=True)
class LabelSpec:
    column: str
    rule: str | None = None  # e.g. ">= 4"; None means the column holds 0/1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SPLIT_PARTS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitSpec:
    method: str = "random"
    sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    # method "given": the file (or directory) of each part, relative paths resolved by the reader
    files: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "sizes": list(self.sizes), "seed": self.seed}
        if self.files is not None:
            out["files"] = dict(self.files)
        return out


@dataclass(frozen=True)
class DatasetSchema:
    name: str
    label: LabelSpec
    fields: tuple[FieldSpec, ...]
    split: SplitSpec = SplitSpec()
    timestamp: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # Directory of the schema file (set by load_schema): readers resolve relative data paths from it.
    directory: Path | None = field(default=None, compare=False, repr=False)

    @property
    def sources(self) -> tuple[str, ...]:
        """Raw columns the model reads, in first-use order (the keys a request may carry)."""
        return tuple(dict.fromkeys(f.source for f in self.fields))

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "timestamp": self.timestamp,
            "label": self.label.to_dict(),
            "split": self.split.to_dict(),
            "source": dict(self.source),
            "fields": [f.to_dict() for f in self.fields],
        }


def load_schema(path: str | Path) -> DatasetSchema:
    """Read and validate a schema TOML file."""
    path = Path(path)
    if not path.is_file():
        raise SchemaError(str(path), "schema file not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(str(path), f"not valid TOML: {exc}") from exc
    return dataclasses.replace(parse_schema(raw), directory=path.resolve().parent)


def parse_schema(raw: dict[str, Any]) -> DatasetSchema:
    """Validate a schema given as a dict (the parsed TOML, or a manifest's copy)."""
    _only_keys("", raw, {"name", "description", "timestamp", "label", "split", "source", "fields"})
    name = _typed("name", raw.get("name"), str, required=True)
    if not NAME.match(name.replace("-", "_")):
        raise SchemaError("name", f"{name!r} must be letters, digits, '_' or '-'")
    label = _parse_label(raw.get("label"))
    split = _parse_split(raw.get("split", {}))
    timestamp = _typed("timestamp", raw.get("timestamp"), str)
    source = _typed("source", raw.get("source", {}), dict)
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise SchemaError("fields", "at least one [[fields]] entry is required")
    fields = tuple(_parse_field(i, f) for i, f in enumerate(fields_raw))
    seen: set[str] = set()
    for i, spec in enumerate(fields):
        if spec.name in seen:
            raise SchemaError(f"fields[{i}].name", f"duplicate field name {spec.name!r}")
        seen.add(spec.name)
        if spec.source in (label.column, timestamp):
            raise SchemaError(f"fields[{i}].source", f"{spec.source!r} is the label or timestamp column")
    if split.method == "time" and timestamp is None:
        raise SchemaError("split.method", "'time' needs a top-level timestamp = \"<column>\"")
    return DatasetSchema(
        name=name,
        description=_typed("description", raw.get("description", ""), str),
        label=label,
        fields=fields,
        split=split,
        timestamp=timestamp,
        source=source,
    )


def _parse_label(raw: Any) -> LabelSpec:
    raw = _typed("label", raw, dict, required=True)
    _only_keys("label", raw, {"column", "rule"})
    column = _typed("label.column", raw.get("column"), str, required=True)
    rule = _typed("label.rule", raw.get("rule"), str)
    if rule is not None and not LABEL_RULE.match(rule):
        raise SchemaError("label.rule", f"{rule!r} must look like '>= 4' (operators >=, <=, >, <, ==, !=)")
    return LabelSpec(column=column, rule=rule)


def _parse_split(raw: Any) -> SplitSpec:
    raw = _typed("split", raw, dict)
    _only_keys("split", raw, {"method", "sizes", "seed", "files"})
    method = _typed("split.method", raw.get("method", "random"), str)
    if method not in SPLIT_METHODS:
        raise SchemaError("split.method", f"{method!r} is not one of {', '.join(SPLIT_METHODS)}")
    sizes = _typed("split.sizes", raw.get("sizes", [0.8, 0.1, 0.1]), list)
    if len(sizes) != 3 or not all(isinstance(s, int | float) and s > 0 for s in sizes):
        raise SchemaError("split.sizes", "must be three positive numbers (train, validation, test)")
    if abs(sum(sizes) - 1.0) > 1e-6:
        raise SchemaError("split.sizes", f"must sum to 1, got {sum(sizes):g}")
    seed = _typed("split.seed", raw.get("seed", 0), int)
    files = _typed("split.files", raw.get("files"), dict)
    if files is not None:
        if method != "given":
            raise SchemaError("split.files", "only applies to method = 'given'")
        for part in files:
            if part not in SPLIT_PARTS:
                raise SchemaError(f"split.files.{part}", f"unknown part (expected {', '.join(SPLIT_PARTS)})")
        for part in SPLIT_PARTS:
            path = _typed(f"split.files.{part}", files.get(part), str, required=True)
            if not path:
                raise SchemaError(f"split.files.{part}", "must not be empty")
    return SplitSpec(method=method, sizes=(float(sizes[0]), float(sizes[1]), float(sizes[2])), seed=seed, files=files)


_FIELD_KEYS = {
    "name", "kind", "source", "side", "required", "min_count", "dtype", "transform",
    "separator", "weighting", "max_length", "boundaries", "buckets", "log",
}  # fmt: skip


def _parse_field(i: int, raw: Any) -> FieldSpec:
    at = f"fields[{i}]"
    raw = _typed(at, raw, dict)
    _only_keys(at, raw, _FIELD_KEYS)
    name = _typed(f"{at}.name", raw.get("name"), str, required=True)
    if not NAME.match(name):
        raise SchemaError(f"{at}.name", f"{name!r} must be an identifier (letters, digits, '_')")
    kind = _choice(f"{at}.kind", raw.get("kind", "categorical"), FIELD_KINDS)
    source = _typed(f"{at}.source", raw.get("source", name), str)
    side = _choice(f"{at}.side", raw.get("side", "context"), SIDES)
    required = _typed(f"{at}.required", raw.get("required", False), bool)
    min_count = _typed(f"{at}.min_count", raw.get("min_count", 1), int)
    if min_count < 1:
        raise SchemaError(f"{at}.min_count", "must be >= 1")
    dtype = _choice(f"{at}.dtype", raw.get("dtype", "string"), DTYPES)
    transform = _typed(f"{at}.transform", raw.get("transform"), str)
    if transform is not None and not TRANSFORM.match(transform):
        raise SchemaError(f"{at}.transform", f"{transform!r} must be 'prefix:<n>' or 'lower'")
    separator = _typed(f"{at}.separator", raw.get("separator"), str)
    weighting = _choice(f"{at}.weighting", raw.get("weighting", "one"), WEIGHTINGS)
    max_length = _typed(f"{at}.max_length", raw.get("max_length", 0), int)
    boundaries = _typed(f"{at}.boundaries", raw.get("boundaries"), list)
    buckets = _typed(f"{at}.buckets", raw.get("buckets", 0), int)
    log = _typed(f"{at}.log", raw.get("log", False), bool)

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
