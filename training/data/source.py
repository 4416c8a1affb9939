"""The ``[source]`` table of a schema: how a user's files become raw columns.

Every key, validated here with errors naming ``source.<key>`` (docs/datasets.md has examples)::

    format            csv | tsv | parquet | jsonl | libfm | libsvm  (required unless ``reader`` is set)
    reader            "ml100k": the built-in MovieLens-100k reader (needs no --data)
    delimiter         csv only: one character (default ",")
    header            csv/tsv: the first line names the columns (default true)
    columns           csv/tsv with header = false: the column names, in file order
    encoding          text formats: the files' encoding (default "utf-8")
    glob              --data is a directory: which files to read (default: the format's extensions)
    partition_column  --data is a directory of dated partitions (``dt=2024-01-01/part.csv``,
                      ``2024-01-01.csv``): a column holding each file's date, e.g. the schema's timestamp
    field_map         libfm/libsvm: file of ``<feature id> <field> [<raw value>]`` lines; without it the
                      k-th ``id:value`` pair of a line belongs to the k-th raw column of the schema

Relative paths written in a schema (``field_map``, ``split.files``) are resolved against the schema
file's directory; paths given on the command line against the working directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.schema import DatasetSchema, SchemaError

FORMATS = ("csv", "tsv", "parquet", "jsonl", "libfm", "libsvm")
READERS = ("ml100k",)
TEXT_FORMATS = ("csv", "tsv", "jsonl", "libfm", "libsvm")
# File name endings read from a directory, per format (``.gz`` variants are decompressed on the fly).
SUFFIXES = {
    "csv": (".csv", ".csv.gz"),
    "tsv": (".tsv", ".tsv.gz", ".txt", ".txt.gz"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz"),
    "libfm": (".libfm", ".libfm.gz", ".libsvm", ".libsvm.gz", ".svm", ".txt", ".txt.gz"),
}
SUFFIXES["libsvm"] = SUFFIXES["libfm"]
_KEYS_FOR = {
    "delimiter": ("csv",),
    "header": ("csv", "tsv"),
    "columns": ("csv", "tsv"),
    "encoding": TEXT_FORMATS,
    "field_map": ("libfm", "libsvm"),
}


@dataclass(frozen=True)
class SourceSpec:
    """The validated ``[source]`` table."""

    format: str | None = None
    reader: str | None = None
    delimiter: str = ","
    header: bool = True
    columns: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    glob: str | None = None
    partition_column: str | None = None
    field_map: Path | None = None

    @property
    def is_libfm(self) -> bool:
        return self.format in ("libfm", "libsvm")

    @property
    def separator(self) -> str:
        return "\t" if self.format == "tsv" else self.delimiter


def parse_source(schema: DatasetSchema) -> SourceSpec:
    """Validate ``schema.source``; raises :class:`SchemaError` naming ``source.<key>``."""
    raw: dict[str, Any] = dict(schema.source)
    known = {"format", "reader", *_KEYS_FOR, "glob", "partition_column"}
    for key in raw:
        if key not in known:
            raise SchemaError(f"source.{key}", f"unknown key (known: {', '.join(sorted(known))})")
    reader = _string(raw, "reader")
    fmt = _string(raw, "format")
    if reader is not None:
        if reader not in READERS:
            raise SchemaError("source.reader", f"unknown reader {reader!r} (known: {', '.join(READERS)})")
        extra = sorted(set(raw) - {"reader"})
        if extra:
            raise SchemaError(f"source.{extra[0]}", f"does not apply to the built-in reader {reader!r}")
        return SourceSpec(reader=reader)
    if fmt is None:
        raise SchemaError("source.format", f"is required (one of {', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise SchemaError("source.format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    for key, formats in _KEYS_FOR.items():
        if key in raw and fmt not in formats:
            raise SchemaError(f"source.{key}", f"only applies to format = {' or '.join(map(repr, formats))}")

    delimiter = _string(raw, "delimiter") or ","
    if len(delimiter) != 1:
        raise SchemaError("source.delimiter", f"must be one character, got {delimiter!r}")
    header = raw.get("header", True)
    if not isinstance(header, bool):
        raise SchemaError("source.header", f"must be true or false, got {header!r}")
    columns = raw.get("columns")
    if columns is not None:
        if header:
            raise SchemaError("source.columns", "only applies with header = false (the header names the columns)")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
            raise SchemaError("source.columns", "must be a non-empty list of column names")
        if len(set(columns)) != len(columns):
            raise SchemaError("source.columns", "names a column twice")
    elif not header:
        raise SchemaError("source.columns", "is required with header = false: list the column names in file order")
    encoding = _string(raw, "encoding") or "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        raise SchemaError("source.encoding", f"unknown encoding {encoding!r}") from None
    partition_column = _string(raw, "partition_column")
    if partition_column == "":
        raise SchemaError("source.partition_column", "must not be empty")
    glob = _string(raw, "glob")
    if glob == "":
        raise SchemaError("source.glob", "must not be empty")
    field_map = _string(raw, "field_map")
    if field_map == "":
        raise SchemaError("source.field_map", "must not be empty")
    spec = SourceSpec(
        format=fmt,
        delimiter=delimiter,
        header=header,
        columns=tuple(columns) if columns is not None else None,
        encoding=encoding,
        glob=glob,
        partition_column=partition_column,
        field_map=resolve_path(schema, field_map) if field_map else None,
    )
    _check_columns(schema, spec)
    return spec


def needed_columns(schema: DatasetSchema, spec: SourceSpec) -> list[str]:
    """Raw columns a reader must produce from each file (the partition column comes from the path)."""
    columns = [*schema.sources, schema.label.column]
    if schema.timestamp is not None:
        columns.append(schema.timestamp)
    return [c for c in dict.fromkeys(columns) if c != spec.partition_column]


def resolve_path(schema: DatasetSchema, path: str | Path) -> Path:
    """A path written in the schema: absolute, or relative to the schema file's directory."""
    path = Path(path).expanduser()
    if path.is_absolute() or schema.directory is None:
        return path
    return schema.directory / path


def _check_columns(schema: DatasetSchema, spec: SourceSpec) -> None:
    if spec.columns is not None:
        for column in needed_columns(schema, spec):
            if column not in spec.columns:
                raise SchemaError("source.columns", f"does not name the column {column!r} the schema reads")
    if spec.is_libfm and schema.timestamp is not None and schema.timestamp != spec.partition_column:
        raise SchemaError(
            "timestamp",
            f"libFM lines have no column {schema.timestamp!r}; for a time split read a directory of dated "
            f'partitions with source.partition_column = "{schema.timestamp}"',
        )


def _string(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise SchemaError(f"source.{key}", f"must be a string, got {value!r}")
    return value
