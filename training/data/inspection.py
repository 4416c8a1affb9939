"""``ctr dataset inspect``: what a schema makes of a dataset, computed by streaming it in chunks.

Three passes, none holding more than one chunk of raw rows:

1. count: labels (dropping rows without one), and timestamps for a time split; then plan the split
   exactly as training does (kept in memory: one byte per row, plus 8 bytes per row of timestamps
   while planning a time split);
2. fit: the contract's value counts over the training rows, as ``FeatureEncoder.fit`` would;
3. validation: encode the validation rows; per field, the share of rows where it is missing and the
   share of present values that fall back to the out-of-vocabulary feature; keep a few rows as a sample.

No torch is imported: inspecting needs only the training extra's readers (pandas, pyarrow).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from contract.encoding import EncodedBatch, FeatureEncoder
from contract.field import OOV, FieldEncoder
from contract.fitting import ValueCounts
from contract.schema import SPLIT_PARTS, DatasetSchema, SplitSpec
from contract.values import EncodingError
from training.data.chunks import DEFAULT_CHUNK_ROWS, Chunk
from training.data.dataset import DataArg, describe_location, part_locations
from training.data.errors import located, no_rows
from training.data.labels import Derived, derive
from training.data.readers import iter_chunks
from training.data.split import TEST, TRAIN, VALIDATION, given_split, plan_split

PART_CODES = {"train": TRAIN, "validation": VALIDATION, "test": TEST}


@dataclass(frozen=True)
class FieldReport:
    name: str
    kind: str
    side: str
    distinct: int | None  # distinct training values (None for numeric fields)
    vocabulary: int  # training values kept (min_count), or numeric buckets; the OOV feature not counted
    missing_share: float  # validation rows without a value
    oov_share: float | None  # of the present validation values, the share encoded as OOV (None: numeric)


@dataclass(frozen=True)
class SampleRow:
    where: str
    label: float
    cells: list[tuple[str, str, str]]  # (field, raw value, encoded as "feature=value #id [x weight]")


@dataclass
class InspectReport:
    dataset: str
    data: dict[str, str]
    rows_read: int
    rows: int
    dropped: dict[str, int]
    positive_rate: float
    split: dict[str, Any]
    num_features: int = 0
    num_slots: int = 0
    fields: list[FieldReport] = field(default_factory=list)
    sample: list[SampleRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_dataset(
    schema: DatasetSchema,
    data: DataArg,
    split: SplitSpec | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sample_rows: int = 5,
    progress: bool = False,
) -> InspectReport:
    """Stream the data three times and report counts, the split, per-field vocabulary and OOV shares."""
    stream = _Stream(schema, data, split or schema.split, chunk_rows, progress)
    report = stream.count()
    counts = stream.fit()
    encoder = FeatureEncoder.from_counts(schema.fields, counts)
    report.num_features, report.num_slots = encoder.num_features, encoder.num_slots
    report.fields, report.sample = stream.validate(encoder, counts, sample_rows)
    report.split["positive_rate"] = stream.part_positive_rates()
    return report


class _Stream:
    def __init__(self, schema: DatasetSchema, data: DataArg, split: SplitSpec, chunk_rows: int, progress: bool):
        self.schema, self.split, self.chunk_rows, self.progress = schema, split, chunk_rows, progress
        self.locations = part_locations(schema, data, split)
        self.assignment: np.ndarray | None = None  # part code of every kept row (random and time splits)
        self.positives = np.zeros(3, np.int64)
        self.part_rows = np.zeros(3, np.int64)

    def derived(self, what: str) -> Iterator[tuple[str, Chunk, Derived]]:
        """(part or "all", chunk, its labels and drops) of every chunk, in reading order, with a progress bar."""
        from tqdm import tqdm

        with tqdm(
            desc=what, unit=" rows", disable=None if self.progress else True, file=sys.stderr, leave=False
        ) as bar:
            for part, path in self.locations.items():
                for chunk in iter_chunks(self.schema, path, self.chunk_rows):
                    yield part, chunk, derive(chunk, self.schema, self.split.method == "time")
                    bar.update(len(chunk))

    def chunks(self, what: str) -> Iterator[tuple[Chunk, np.ndarray, np.ndarray]]:
        """(kept rows, their labels, their part codes) of every chunk, in reading order."""
        offset = 0
        for part, chunk, derived in self.derived(what):
            kept = chunk.take(derived.keep)
            if self.assignment is None:
                codes = np.full(len(kept), PART_CODES[part], np.int8)
            else:
                codes = self.assignment[offset : offset + len(kept)]
            offset += len(kept)
            yield kept, derived.labels, codes

    def count(self) -> InspectReport:
        rows_read, dropped, per_location = 0, Counter(), Counter()
        stamps, positives = [], 0
        for part, chunk, derived in self.derived("count"):
            rows_read += len(chunk)
            dropped.update(derived.dropped)
            per_location[part] += len(derived.labels)
            positives += int(derived.labels.sum())
            if derived.timestamps is not None:
                stamps.append(derived.timestamps)
        reader = self.schema.source.get("reader")
        files = {part: describe_location(path) if path else f"built-in reader {reader!r}"
                 for part, path in self.locations.items()}  # fmt: skip
        if self.split.method == "given":
            split = given_split(per_location, files)
        else:
            n = per_location["all"]
            if n == 0:
                raise no_rows(files["all"], dropped)
            timestamps = np.concatenate(stamps) if stamps else None
            stamps.clear()  # planning a time split is the memory peak: keep one copy of the timestamps
            split = plan_split(n, self.split, timestamps)
            del timestamps
            self.assignment = split.assignment()
        kept = sum(per_location.values())
        return InspectReport(
            dataset=self.schema.name,
            data=files,
            rows_read=rows_read,
            rows=kept,
            dropped=dict(+dropped),
            positive_rate=positives / kept,
            split=split.describe(),
        )

    def fit(self) -> ValueCounts:
        counts = ValueCounts(self.schema.fields)
        for kept, labels, codes in self.chunks("fit"):
            np.add.at(self.positives, codes, labels.astype(np.int64))
            np.add.at(self.part_rows, codes, 1)
            train = np.flatnonzero(codes == TRAIN)
            try:
                counts.add(kept.take(train).columns)
            except EncodingError as exc:
                raise located(exc, lambda r, c=kept, t=train: c.where(int(t[r]))) from None
        return counts

    def validate(
        self, encoder: FeatureEncoder, counts: ValueCounts, sample_rows: int
    ) -> tuple[list[FieldReport], list[SampleRow]]:
        missing = np.zeros(len(encoder.fields), np.int64)
        present = np.zeros(len(encoder.fields), np.int64)  # present values (items, for multi-valued fields)
        oov = np.zeros(len(encoder.fields), np.int64)
        n_rows, sample = 0, []
        for kept, labels, codes in self.chunks("validation"):
            try:
                # Every part is encoded, as `ctr train` encodes them, so a value train refuses (a required
                # field empty in the training part) is refused here too, with the same message.
                everything = encoder.encode_columns(kept.columns, len(kept))
            except EncodingError as exc:
                raise located(exc, kept.where) from None
            rows = np.flatnonzero(codes == VALIDATION)
            if not len(rows):
                continue
            part = kept.take(rows)
            batch = EncodedBatch(everything.ids[rows], everything.values[rows])
            for j, f in enumerate(encoder.fields):
                is_missing = _missing(f, part.columns[f.spec.source])
                n_present, n_oov = _oov(f, batch.ids, batch.values, ~is_missing)
                missing[j] += int(is_missing.sum())
                present[j] += n_present
                oov[j] += n_oov
            n_rows += len(rows)
            for r in range(min(sample_rows - len(sample), len(rows))):
                sample.append(_sample(encoder, part, labels[rows[r]], batch.ids[r], batch.values[r], r))
        fields = [
            FieldReport(
                name=f.spec.name,
                kind=f.spec.kind,
                side=f.spec.side,
                distinct=None if f.spec.kind == "numeric" else counts.distinct(f.spec.name),
                vocabulary=f.size - 1,
                missing_share=float(missing[j] / n_rows) if n_rows else 0.0,
                oov_share=None if f.spec.kind == "numeric" else float(oov[j] / present[j]) if present[j] else 0.0,
            )
            for j, f in enumerate(encoder.fields)
        ]
        return fields, sample

    def part_positive_rates(self) -> dict[str, float | None]:
        return {
            name: float(self.positives[code] / self.part_rows[code]) if self.part_rows[code] else None
            for name, code in PART_CODES.items()
            if name in SPLIT_PARTS
        }


def _missing(field: FieldEncoder, column: np.ndarray) -> np.ndarray:
    """(n,) bool: rows where the raw value is missing (None, NaN, "", an empty list)."""
    spec = field.spec
    if spec.kind == "numeric":
        return np.array([field.number(v, r) is None for r, v in enumerate(column)], dtype=bool)
    if spec.kind == "multi_categorical":
        return np.array([field.items(v, r) is None for r, v in enumerate(column)], dtype=bool)
    return np.array([field.canonical(v, r) is None for r, v in enumerate(column)], dtype=bool)


def _oov(field: FieldEncoder, ids: np.ndarray, values: np.ndarray, present: np.ndarray) -> tuple[int, int]:
    """(present values, of which OOV) of one field in an encoded batch."""
    block = slice(field.slot_start, field.slot_start + field.spec.slots)
    is_oov = ids[:, block] == field.offset + OOV
    padding = is_oov & (values[:, block] == 0)  # unused slots of a multi-valued field
    used = ~padding & present[:, None]
    return int(used.sum()), int((is_oov & used).sum())


def _sample(
    encoder: FeatureEncoder, part: Chunk, label: float, ids: np.ndarray, values: np.ndarray, r: int
) -> SampleRow:
    cells = []
    for f in encoder.fields:
        raw = part.columns[f.spec.source][r]
        block = slice(f.slot_start, f.slot_start + f.spec.slots)
        slot_ids, slot_values = ids[block], values[block]
        used = ~((slot_ids == f.offset) & (slot_values == 0))
        encoded = ", ".join(
            f"{encoder.feature_name(int(i))} #{int(i)}" + ("" if v == 1 else f" x{v:g}")
            for i, v in zip(slot_ids[used], slot_values[used], strict=True)
        )
        cells.append((f.spec.name, _short(raw), encoded))
    return SampleRow(part.where(r), float(label), cells)


def _short(value: Any, width: int = 40) -> str:
    text = "" if value is None else str(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_report(report: InspectReport) -> str:
    """The report as readable text: totals, split, a table of fields and the sample rows."""
    lines = [f"dataset {report.dataset}: " + ", ".join(f"{k} = {v}" for k, v in report.data.items())]
    drops = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in report.dropped.items()) or "none"
    lines.append(f"rows: {report.rows_read:,} read, {report.rows:,} kept (dropped: {drops})")
    lines.append(f"positive rate: {report.positive_rate:.4f}")
    rows, rates = report.split["rows"], report.split.get("positive_rate", {})
    parts = " / ".join(
        f"{name} {rows[name]:,}" + (f" (positive {rates[name]:.3f})" if rates.get(name) is not None else "")
        for name in SPLIT_PARTS
    )
    seed = f", seed {report.split['seed']}" if report.split.get("seed") is not None else ""
    lines.append(f"split: {report.split['method']}{seed}: {parts}")
    lines.append(f"features: {report.num_features:,} ids in {len(report.fields)} fields, {report.num_slots} slots")
    lines.append("")
    header = ("field", "kind", "side", "distinct(train)", "vocabulary", "missing(valid)", "oov(valid)")
    table = [header] + [
        (
            f.name,
            f.kind,
            f.side,
            "-" if f.distinct is None else f"{f.distinct:,}",
            f"{f.vocabulary:,}" + (" buckets" if f.kind == "numeric" else ""),
            f"{f.missing_share:.1%}",
            "-" if f.oov_share is None else f"{f.oov_share:.1%}",
        )
        for f in report.fields
    ]
    lines += _table(table)
    for i, row in enumerate(report.sample, start=1):
        lines += ["", f"validation row {i} ({row.where}), label {row.label:g}:"]
        lines += _table([("field", "raw value", "encoded")] + [tuple(c) for c in row.cells], indent="  ")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
