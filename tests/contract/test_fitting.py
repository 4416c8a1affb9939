"""Mergeable value counts and the vectorised column paths: the same vocabularies, boundaries and ids as
counting and encoding value by value, however the data is cut into parts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.encoding import FeatureEncoder
from contract.fitting import IntegerTally, ValueCounts
from contract.schema import parse_schema
from contract.values import EncodingError

SCHEMA = parse_schema(
    {
        "name": "t",
        "label": {"column": "y"},
        "fields": [
            {"name": "c_int", "dtype": "int", "min_count": 2},
            {"name": "c_str"},
            {"name": "tags", "kind": "multi_categorical", "separator": "|", "max_length": 2},
            {"name": "n_log", "kind": "numeric", "log": True},
            {"name": "n_q", "kind": "numeric", "buckets": 4},
            {"name": "n_b", "kind": "numeric", "boundaries": [0, 10]},
        ],
    }
)


def table(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Columns as Parquet delivers them: ints, floats with NaN for missing values, strings as objects."""
    c_str = rng.integers(-5, 40, n).astype(np.float64)
    c_str[rng.random(n) < 0.1] = np.nan
    tags = np.empty(n, dtype=object)
    tags[:] = ["|".join(rng.choice(list("abc"), rng.integers(0, 3))) for _ in range(n)]
    n_log = rng.exponential(20, n).round()
    n_log[rng.random(n) < 0.2] = np.nan
    return {
        "c_int": rng.zipf(1.5, n) % 1000,
        "c_str": c_str,
        "tags": tags,
        "n_log": n_log,
        "n_q": rng.normal(size=n),
        "n_b": rng.integers(-3, 20, n),
    }


def as_objects(columns: dict[str, np.ndarray]) -> dict[str, list]:
    """The same values as Python objects (lists, None for missing), which take the per-value path."""
    out = {}
    for name, column in columns.items():
        values = column.tolist()
        out[name] = [None if isinstance(v, float) and np.isnan(v) else v for v in values]
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_counts_of_parts_merge_into_the_counts_of_the_whole(seed, cuts):
    data = table(np.random.default_rng(seed), 300)
    whole = ValueCounts.of(SCHEMA.fields, [data])
    edges = [0, *sorted(cuts), 300]
    slices = [{k: v[a:b] for k, v in data.items()} for a, b in itertools.pairwise(edges)]
    parts = [ValueCounts.of(SCHEMA.fields, [part]) for part in slices]
    merged = ValueCounts.merged(SCHEMA.fields, parts)
    assert merged.vocabularies() == whole.vocabularies()
    assert merged.boundaries() == whole.boundaries()
    assert {f.name: merged.distinct(f.name) for f in SCHEMA.fields if f.kind != "numeric"} == {
        f.name: whole.distinct(f.name) for f in SCHEMA.fields if f.kind != "numeric"
    }


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_numpy_columns_count_and_encode_like_python_values(seed):
    rng = np.random.default_rng(seed)
    train, test = table(rng, 400), table(rng, 100)
    fast = FeatureEncoder.fit(SCHEMA.fields, [train])
    slow = FeatureEncoder.fit(SCHEMA.fields, [as_objects(train)])
    assert fast.vocabularies() == slow.vocabularies()
    assert fast.to_layout() == slow.to_layout()
    a, b = fast.encode_columns(test, 100), slow.encode_columns(as_objects(test), 100)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.values, b.values)


def test_integer_lookup_ignores_non_canonical_spellings():
    schema = parse_schema({"name": "t", "label": {"column": "y"}, "fields": [{"name": "c"}]})
    encoder = FeatureEncoder.fit(schema.fields, [{"c": ["007", "7", "-0", "x", "12", "12"]}])
    field = encoder.fields[0]
    got = field.feature_ids(np.array([7, 0, 12, 99]))
    assert got.tolist() == [field.ids["7"], field.oov_id, field.ids["12"], field.oov_id]
    assert got.tolist() == field.feature_ids([7, 0, 12, 99]).tolist()


def test_vocabulary_order_is_count_then_spelling_for_integers():
    counts = ValueCounts.of(SCHEMA.fields[:1], [{"c_int": np.array([10, 9, 9, 10, -1, -1, 100, 100, 2])}])
    assert counts.vocabularies()["c_int"] == ["-1", "10", "100", "9"]  # ties by string: "-1" < "10" < "100" < "9"
    assert counts.distinct("c_int") == 5


def test_a_column_mixing_strings_and_integers_counts_them_as_one_spelling():
    parts = [
        ValueCounts.of(SCHEMA.fields[1:2], [{"c_str": np.array([5, 5, 6])}]),
        ValueCounts.of(SCHEMA.fields[1:2], [{"c_str": ["5", "6", "6", "x"]}]),
    ]
    assert ValueCounts.merged(SCHEMA.fields[1:2], parts).vocabularies()["c_str"] == ["5", "6", "x"]


def test_bad_numpy_values_still_name_their_row():
    with pytest.raises(EncodingError, match=r"c_str \(record 1\)"):
        ValueCounts.of(SCHEMA.fields[1:2], [{"c_str": np.array([1.0, 1.5])}])
    with pytest.raises(EncodingError, match=r"n_log \(record 2\).*finite"):
        ValueCounts.of(SCHEMA.fields[3:4], [{"n_log": np.array([1.0, 2.0, np.inf])}])


def test_only_quantile_fields_keep_their_values():
    counts = ValueCounts.of(SCHEMA.fields, [table(np.random.default_rng(0), 1000)])
    assert counts.row_bound() == ["n_q"]
    assert len(counts.numbers_of("n_q")) == 1000
    assert len(counts.numbers_of("n_log")) == 0 and len(counts.numbers_of("n_b")) == 0


def test_integer_tally_compacts_many_chunks_exactly():
    rng = np.random.default_rng(1)
    tally, everything = IntegerTally(), []
    for _ in range(40):  # more chunks than the compaction threshold
        chunk = rng.integers(0, 50, 100)
        tally.add(chunk)
        everything.append(chunk)
    values, counts = tally.counts()
    expected_values, expected_counts = np.unique(np.concatenate(everything), return_counts=True)
    assert values.tolist() == expected_values.tolist() and counts.tolist() == expected_counts.tolist()


def test_counts_of_different_fields_do_not_merge():
    with pytest.raises(ValueError, match="different fields"):
        ValueCounts(SCHEMA.fields[:2]).merge(ValueCounts(SCHEMA.fields[1:3]))
