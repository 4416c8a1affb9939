"""Dataset schema: what a user declares about their click log, validated on load.

A schema is a TOML file::

    name = "ml100k"
    timestamp = "timestamp"            # optional; needed by the time split
    candidate_id = "item_id"           # optional; the field keying the candidate catalog (/v1/rank by id)

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
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contract.field_spec import NAME, FieldSpec, SchemaError, check_keys, check_type, parse_field
from contract.toml_keys import did_you_mean, read_toml

SPLIT_METHODS = ("time", "random", "given")
LABEL_RULE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


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
    candidate_id: str | None = None  # name of the field whose values key the candidate catalog
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
            "candidate_id": self.candidate_id,
            "label": self.label.to_dict(),
            "split": self.split.to_dict(),
            "source": dict(self.source),
            "fields": [f.to_dict() for f in self.fields],
        }


def load_schema(path: str | Path) -> DatasetSchema:
    """Read and validate a schema TOML file (``extends = "other.toml"`` starts from another schema)."""
    path = Path(path)
    return dataclasses.replace(parse_schema(_read_toml(path)), directory=path.resolve().parent)


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The schema's tables; with ``extends``, the base schema's, each top-level key given here replacing its."""
    raw = read_toml(path, "schema", SchemaError)
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise SchemaError("extends", f"must be a path to another schema, got {base!r}")
    target = (path.parent / base).resolve()
    if target in seen or target == path.resolve():
        raise SchemaError("extends", f"{base!r} extends itself")
    return _read_toml(target, (*seen, path.resolve())) | raw


def parse_schema(raw: dict[str, Any]) -> DatasetSchema:
    """Validate a schema given as a dict (the parsed TOML, or a manifest's copy)."""
    check_keys("", raw, {"name", "description", "timestamp", "candidate_id", "label", "split", "source", "fields"})
    name = check_type("name", raw.get("name"), str, required=True)
    if not NAME.match(name.replace("-", "_")):
        raise SchemaError("name", f"{name!r} must be letters, digits, '_' or '-'")
    label = _parse_label(raw.get("label"))
    split = _parse_split(raw.get("split", {}))
    timestamp = check_type("timestamp", raw.get("timestamp"), str)
    source = check_type("source", raw.get("source", {}), dict)
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise SchemaError("fields", "at least one [[fields]] entry is required")
    fields = tuple(parse_field(i, f) for i, f in enumerate(fields_raw))
    seen: set[str] = set()
    for i, spec in enumerate(fields):
        if spec.name in seen:
            raise SchemaError(f"fields[{i}].name", f"duplicate field name {spec.name!r}")
        seen.add(spec.name)
        if spec.source in (label.column, timestamp):
            raise SchemaError(f"fields[{i}].source", f"{spec.source!r} is the label or timestamp column")
    if split.method == "time" and timestamp is None:
        raise SchemaError("split.method", "'time' needs a top-level timestamp = \"<column>\"")
    candidate_id = _parse_candidate_id(raw.get("candidate_id"), fields)
    return DatasetSchema(
        name=name,
        description=check_type("description", raw.get("description", ""), str),
        label=label,
        fields=fields,
        split=split,
        timestamp=timestamp,
        source=source,
        candidate_id=candidate_id,
    )


def _parse_candidate_id(raw: Any, fields: tuple[FieldSpec, ...]) -> str | None:
    """The field keying the candidate catalog: a categorical field on the candidate side."""
    name = check_type("candidate_id", raw, str)
    if name is None:
        return None
    spec = next((f for f in fields if f.name == name), None)
    if spec is None:
        raise SchemaError("candidate_id", f"{name!r} is not a field{did_you_mean(name, [f.name for f in fields])}")
    if spec.kind != "categorical" or spec.side != "candidate":
        raise SchemaError("candidate_id", f'{name!r} must be a categorical field with side = "candidate"')
    return name


def _parse_label(raw: Any) -> LabelSpec:
    raw = check_type("label", raw, dict, required=True)
    check_keys("label", raw, {"column", "rule"})
    column = check_type("label.column", raw.get("column"), str, required=True)
    rule = check_type("label.rule", raw.get("rule"), str)
    if rule is not None and not LABEL_RULE.match(rule):
        raise SchemaError("label.rule", f"{rule!r} must look like '>= 4' (operators >=, <=, >, <, ==, !=)")
    return LabelSpec(column=column, rule=rule)


def _parse_split(raw: Any) -> SplitSpec:
    raw = check_type("split", raw, dict)
    check_keys("split", raw, {"method", "sizes", "seed", "files"})
    method = check_type("split.method", raw.get("method", "random"), str)
    if method not in SPLIT_METHODS:
        raise SchemaError("split.method", f"{method!r} is not one of {', '.join(SPLIT_METHODS)}")
    sizes = check_type("split.sizes", raw.get("sizes", [0.8, 0.1, 0.1]), list)
    if len(sizes) != 3 or not all(isinstance(s, int | float) and s > 0 for s in sizes):
        raise SchemaError("split.sizes", "must be three positive numbers (train, validation, test)")
    if abs(sum(sizes) - 1.0) > 1e-6:
        raise SchemaError("split.sizes", f"must sum to 1, got {sum(sizes):g}")
    seed = check_type("split.seed", raw.get("seed", 0), int)
    files = check_type("split.files", raw.get("files"), dict)
    if files is not None:
        if method != "given":
            raise SchemaError("split.files", "only applies to method = 'given'")
        for part in files:
            if part not in SPLIT_PARTS:
                raise SchemaError(f"split.files.{part}", f"unknown part (expected {', '.join(SPLIT_PARTS)})")
        for part in SPLIT_PARTS:
            path = check_type(f"split.files.{part}", files.get(part), str, required=True)
            if not path:
                raise SchemaError(f"split.files.{part}", "must not be empty")
    return SplitSpec(method=method, sizes=(float(sizes[0]), float(sizes[1]), float(sizes[2])), seed=seed, files=files)
