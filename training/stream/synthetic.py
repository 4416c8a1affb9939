"""Synthetic Criteo-like click logs with a planted FM ground truth, written as dated Parquet shards.

Shape (the Criteo display-ads log's): 39 fields, ``I1``..``I13`` numeric counts (heavy-tailed, some often
missing) and ``C1``..``C26`` categorical ids (int32; a few fields with hundreds of thousands of values or
more, many small ones, some often missing), a 0/1 ``label`` with a ~25% positive rate.

* **Power-law frequencies**: the value of rank r (1-based) of categorical field f is drawn by the
  inverse CDF of the continuous power law x^-s on [1, cardinality + 1) (s = ``zipf_exponent``) rounded
  down, i.e. with probability ∝ r^(1-s) − (r+1)^(1-s) ≈ (s−1)·r^-s in the tail, then scrambled into a
  31-bit id so frequent values are not small numbers. Numeric values are ``floor(exp(N(μ_f, σ_f))) - 1``.
* **Planted ground truth**: an FM with ``planted_dim`` factors over the same fields (numeric fields by
  their ``floor(log2(x + 1))`` bucket, as ``log = true`` in the schema buckets them; a missing value has its
  own row): logit = b + Σ_f w_f + ½ Σ_k[(Σ_f v_fk)² − Σ_f v_fk²], label ~ Bernoulli(σ(logit)). The bias
  b is calibrated on a sample for ``positive_rate``. The AUC of the true probabilities on a day is the
  best any model can do there: the generator writes it to ``_synthetic.json`` for every date.
* **Deterministic per seed**: the planted tables come from ``(seed, field)`` and shard i's rows from
  ``(seed, i)``, so any shard can be (re)generated alone, in any order or process, bit for bit.

Layout: ``<out>/date=YYYY-MM-DD/part-NNNNN.parquet`` (``shards_per_day`` shards per date, shard i on day
``i // shards_per_day``) and ``<out>/_synthetic.json`` (readers skip ``_`` files). ``datasets/criteo_synthetic.toml``
is the matching schema.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from training.stream.histogram import ScoreHistogram

NUMERIC_FIELDS = tuple(f"I{i}" for i in range(1, 14))
CATEGORICAL_FIELDS = tuple(f"C{i}" for i in range(1, 27))
# Cardinalities at scale 1 (about 1.2M values in all): a few huge fields, many small, as in Criteo's log.
BASE_CARDINALITY = (1_400, 550, 250_000, 120_000, 300, 24, 12_000, 630, 3, 55_000, 5_500, 200_000, 3_200, 27,
                    14_000, 170_000, 10, 5_600, 2_200, 4, 190_000, 17, 15, 60_000, 100, 40_000)  # fmt: skip
CATEGORICAL_MISSING = (0.0, 0.0, 0.03, 0.03, 0.0, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.0, 0.0, 0.0, 0.03,
                       0.0, 0.0, 0.44, 0.44, 0.03, 0.0, 0.0, 0.44, 0.03, 0.44)  # fmt: skip
NUMERIC_MISSING = (0.45, 0.0, 0.21, 0.22, 0.03, 0.23, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22)
NUMERIC_LOG_MEAN = (1.0, 3.0, 2.5, 1.8, 8.0, 4.0, 2.0, 2.5, 4.0, 0.5, 1.2, 0.5, 2.0)
NUMERIC_LOG_STD = (1.2, 1.8, 1.5, 1.0, 2.0, 1.8, 1.5, 1.2, 1.6, 0.8, 1.0, 1.0, 1.4)
NUMERIC_BUCKETS = 40  # floor(log2(x + 1)) is capped here in the planted tables (values stay far below 2^40)
HISTOGRAM_BINS = 1 << 18
CALIBRATION_ROWS = 200_000
META_FILE = "_synthetic.json"


@dataclass(frozen=True)
class SyntheticSpec:
    """What a generated dataset is; equal specs give byte-identical shards."""

    rows: int
    shard_rows: int = 1_000_000
    shards_per_day: int = 4
    seed: int = 0
    cardinality_scale: float = 1.0  # multiplies every categorical field's cardinality
    zipf_exponent: float = 1.1
    planted_dim: int = 4
    linear_std: float = 0.2  # std of the planted linear weights (with factor_std: an AUC ceiling near 0.81)
    factor_std: float = 0.12  # std of the planted factors
    positive_rate: float = 0.25
    start_date: str = "2024-01-01"

    def __post_init__(self) -> None:
        if self.rows < 1 or self.shard_rows < 1 or self.shards_per_day < 1 or self.planted_dim < 1:
            raise ValueError("rows, shard_rows, shards_per_day and planted_dim must be >= 1")
        if not 0 < self.positive_rate < 1 or self.cardinality_scale <= 0 or self.zipf_exponent <= 0:
            raise ValueError("positive_rate must be in (0, 1); cardinality_scale and zipf_exponent > 0")
        dt.date.fromisoformat(self.start_date)

    @property
    def shards(self) -> int:
        return -(-self.rows // self.shard_rows)

    def cardinalities(self) -> tuple[int, ...]:
        return tuple(max(2, round(c * self.cardinality_scale)) for c in BASE_CARDINALITY)

    def shard_size(self, index: int) -> int:
        return min(self.shard_rows, self.rows - index * self.shard_rows)

    def shard_date(self, index: int) -> str:
        return (dt.date.fromisoformat(self.start_date) + dt.timedelta(days=index // self.shards_per_day)).isoformat()

    def shard_path(self, index: int) -> str:
        return f"date={self.shard_date(index)}/part-{index:05d}.parquet"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class PlantedModel:
    """The ground-truth FM: per field, a (values + 1, 1 + planted_dim) table whose row 0 is "missing"."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        sizes = [NUMERIC_BUCKETS + 1] * len(NUMERIC_FIELDS) + [c + 1 for c in spec.cardinalities()]
        self.tables = []
        for f, size in enumerate(sizes):
            rng = np.random.default_rng([spec.seed, 1, f])
            table = np.empty((size, 1 + spec.planted_dim), dtype=np.float32)
            table[:, 0] = rng.normal(0.0, spec.linear_std, size)
            table[:, 1:] = rng.normal(0.0, spec.factor_std, (size, spec.planted_dim))
            self.tables.append(table)
        self.bias = 0.0
        self.bias = self._calibrated_bias()

    def logits(self, rows: list[np.ndarray]) -> np.ndarray:
        """Logits (n,) from each field's planted row index (n,) (0 = missing), fields in schema order."""
        n = len(rows[0])
        linear = np.full(n, self.bias, dtype=np.float64)
        summed = np.zeros((n, self.spec.planted_dim), dtype=np.float64)
        squares = np.zeros(n, dtype=np.float64)
        for table, index in zip(self.tables, rows, strict=True):
            gathered = table[index]  # (n, 1 + k)
            linear += gathered[:, 0]
            summed += gathered[:, 1:]
            squares += (gathered[:, 1:].astype(np.float64) ** 2).sum(axis=1)
        return linear + 0.5 * ((summed**2).sum(axis=1) - squares)

    def _calibrated_bias(self) -> float:
        """The bias whose mean predicted probability on a calibration sample is ``positive_rate``."""
        rng = np.random.default_rng([self.spec.seed, 3])
        logits = self.logits(draw_fields(self.spec, rng, CALIBRATION_ROWS)[1])
        lo, hi = -20.0, 20.0
        for _ in range(60):  # bisection: the mean of sigmoid(b + logit) increases with b
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if sigmoid(mid + logits).mean() < self.spec.positive_rate else (lo, mid)
        return (lo + hi) / 2


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def bounded_zipf(rng: np.random.Generator, n: int, cardinality: int, exponent: float) -> np.ndarray:
    """Ranks in 1..cardinality (n,): the continuous power law x^-exponent's inverse CDF, rounded down."""
    u = rng.random(n)
    top = cardinality + 1.0
    if abs(exponent - 1.0) < 1e-9:
        x = top**u
    else:
        a = 1.0 - exponent
        x = (1.0 + u * (top**a - 1.0)) ** (1.0 / a)
    return np.clip(np.floor(x).astype(np.int64), 1, cardinality)


def scramble(ranks: np.ndarray, field: int) -> np.ndarray:
    """A 31-bit id per rank: a bijection of Z/2^31 (odd multiplier, then an offset), salted by field."""
    return (ranks * 0x9E3779B1 + (field + 1) * 0x51ED27) & 0x7FFFFFFF


def draw_fields(spec: SyntheticSpec, rng: np.random.Generator, n: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Raw columns {name: (values (n,) int64, missing (n,) bool)} and the planted row index of every field."""
    columns: dict[str, Any] = {}
    rows: list[np.ndarray] = []
    for f, name in enumerate(NUMERIC_FIELDS):
        values = np.maximum(np.floor(np.exp(rng.normal(NUMERIC_LOG_MEAN[f], NUMERIC_LOG_STD[f], n))) - 1, 0)
        values = np.minimum(values, 2.0**31 - 1).astype(np.int64)
        missing = rng.random(n) < NUMERIC_MISSING[f]
        bucket = np.minimum(np.floor(np.log2(values + 1.0)).astype(np.int64), NUMERIC_BUCKETS - 1)
        columns[name] = (values, missing)
        rows.append(np.where(missing, 0, bucket + 1))
    for f, (name, cardinality) in enumerate(zip(CATEGORICAL_FIELDS, spec.cardinalities(), strict=True)):
        ranks = bounded_zipf(rng, n, cardinality, spec.zipf_exponent)
        missing = rng.random(n) < CATEGORICAL_MISSING[f]
        columns[name] = (scramble(ranks, f), missing)
        rows.append(np.where(missing, 0, ranks))
    return columns, rows


def write_shard(spec: SyntheticSpec, planted: PlantedModel, out: Path, index: int) -> dict[str, Any]:
    """Generate and write shard ``index``; returns its description and its true-probability histogram."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = spec.shard_size(index)
    rng = np.random.default_rng([spec.seed, 2, index])
    columns, rows = draw_fields(spec, rng, n)
    probability = sigmoid(planted.logits(rows))
    labels = rng.random(n) < probability
    arrays = {name: pa.array(values.astype(np.int32), mask=missing) for name, (values, missing) in columns.items()}
    arrays["label"] = pa.array(labels.astype(np.int8))
    path = out / spec.shard_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.table(arrays), tmp, compression="snappy", row_group_size=min(n, 1 << 18))
    tmp.replace(path)  # a shard is either complete or absent
    histogram = ScoreHistogram(HISTOGRAM_BINS)
    histogram.add(labels, probability)
    return {"index": index, "path": spec.shard_path(index), "date": spec.shard_date(index), "rows": n,
            "positives": int(labels.sum()), "planted_bias": planted.bias, "histogram": histogram}  # fmt: skip


_WORKER: dict[str, Any] = {}


def _init_worker(spec: SyntheticSpec, out: Path) -> None:
    _WORKER.update(spec=spec, out=out, planted=PlantedModel(spec))


def _work(index: int) -> dict[str, Any]:
    return write_shard(_WORKER["spec"], _WORKER["planted"], _WORKER["out"], index)


def generate(spec: SyntheticSpec, out: str | Path, workers: int = 1, progress: bool = True) -> dict[str, Any]:
    """Write every shard of ``spec`` under ``out`` (``workers`` processes) and ``_synthetic.json``; returns it.

    Data already generated from an equal spec is kept as it is (the metadata is written last).
    """
    out = Path(out)
    meta_path = out / META_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == spec.to_dict() and all((out / s["path"]).is_file() for s in meta["shards"]):
            return meta
    out.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    meta = describe(spec, write_shards(spec, out, range(spec.shards), workers, progress))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def write_shards(
    spec: SyntheticSpec, out: Path, indices: Iterable[int], workers: int = 1, progress: bool = True
) -> list[dict[str, Any]]:
    """Write the shards ``indices`` of ``spec`` (any subset, in any order: each depends only on the spec)."""
    indices = list(indices)
    bar = tqdm(total=sum(spec.shard_size(i) for i in indices), unit="row", unit_scale=True, desc="generate",
               disable=None if progress else True)  # fmt: skip
    results = []
    if workers <= 1:
        _init_worker(spec, out)
        for index in indices:
            results.append(_work(index))
            bar.update(results[-1]["rows"])
    else:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(spec, out)) as pool:
            for result in pool.map(_work, indices):
                results.append(result)
                bar.update(result["rows"])
    bar.close()
    return results


def describe(spec: SyntheticSpec, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata: the spec, the planted bias, every shard, and per date the ceiling of AUC and log loss."""
    by_date: dict[str, ScoreHistogram] = {}
    for shard in shards:
        by_date.setdefault(shard["date"], ScoreHistogram(HISTOGRAM_BINS)).merge(shard["histogram"])
    overall = ScoreHistogram(HISTOGRAM_BINS)
    for histogram in by_date.values():
        overall.merge(histogram)
    return {
        "spec": spec.to_dict(),
        "planted_bias": shards[0]["planted_bias"],
        "categorical_cardinality": dict(zip(CATEGORICAL_FIELDS, spec.cardinalities(), strict=True)),
        "shards": [{k: v for k, v in s.items() if k not in ("histogram", "planted_bias")} for s in shards],
        "ceiling": {"all": overall.summary(), **{d: h.summary() for d, h in sorted(by_date.items())}},
    }
