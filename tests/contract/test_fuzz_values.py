"""Any JSON value in any field kind: the contract encodes it or raises EncodingError naming the field (issue 20).

The values are arbitrary Python JSON values, nested (``load_tests.fuzz_inputs.json_values``), wider than
what a JSON body can carry: NaN, ±inf, integers of any size and lone surrogates reach the contract from
data files too. Nothing else may escape: a TypeError, OverflowError or ValueError here is a 500 on the
server, or a crashed training job.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.encoding import FeatureEncoder
from contract.memo import MemoEncoder
from contract.schema import parse_schema
from contract.values import EncodingError, ValueParser
from load_tests.fuzz_inputs import json_values

# Every field kind and option a schema supports (contract/field_spec.py), each under its own request key.
SCHEMA = parse_schema(
    {
        "name": "every_kind",
        "label": {"column": "y"},
        "fields": [
            {"name": "cat", "required": True},
            {"name": "int_id", "dtype": "int"},
            {"name": "lowered", "transform": "lower"},
            {"name": "zip2", "source": "zip", "transform": "prefix:2"},
            {"name": "zip_int", "source": "zip_code", "dtype": "int", "transform": "prefix:3"},
            {"name": "tags", "kind": "multi_categorical", "max_length": 3},
            {"name": "genres", "kind": "multi_categorical", "separator": "|", "weighting": "mean", "max_length": 4},
            {"name": "int_list", "kind": "multi_categorical", "dtype": "int", "separator": ",", "max_length": 2},
            {"name": "terms", "kind": "multi_categorical", "weighting": "given", "max_length": 3},
            {"name": "terms_sep", "kind": "multi_categorical", "separator": "|", "weighting": "given", "max_length": 2},
            {"name": "weighted_one", "kind": "multi_categorical", "weighting": "given", "max_length": 1},
            {"name": "price", "kind": "numeric", "boundaries": [10, 100]},
            {"name": "clicks", "kind": "numeric", "log": True},
            {"name": "age", "kind": "numeric", "buckets": 3},
        ],
    }
)
VOCABULARIES = {"cat": ["a", "1"], "int_id": ["1", "-7"], "lowered": ["x"], "zip2": ["12"], "zip_int": ["123"],
                "tags": ["a", "b"], "genres": ["drama"], "int_list": ["5"], "terms": ["gpu"], "terms_sep": ["a"],
                "weighted_one": ["w"]}  # fmt: skip
BOUNDARIES = {"price": [10.0, 100.0], "clicks": [0.0, 1.0, 3.0, 7.0], "age": [20.0, 40.0]}
SOURCES = sorted({f.source for f in SCHEMA.fields})
# Derandomized: the default suite sees the same examples every run; `-m slow` tries many more (below).
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@pytest.fixture(scope="module")
def encoder() -> FeatureEncoder:
    return FeatureEncoder.build(SCHEMA.fields, VOCABULARIES, BOUNDARIES)


def encode_or_field(encode, *args) -> str | None:
    """None when it encodes (to finite ids and values), else the field its EncodingError names."""
    try:
        batch = encode(*args)
    except EncodingError as exc:
        return "<none>" if exc.field is None else exc.field
    assert np.isfinite(batch.values).all(), "an encoded value is not finite"
    return None


@pytest.mark.parametrize("spec", SCHEMA.fields, ids=lambda s: s.name)
@FUZZ
@given(value=json_values(wire=False))
def test_a_value_parser_reads_anything_or_names_its_field(spec, value):
    parser = ValueParser(spec)
    read = {"numeric": parser.number, "multi_categorical": parser.items}.get(spec.kind, parser.canonical)
    try:
        result = read(value, 0)
    except EncodingError as exc:
        assert exc.field == spec.source and exc.row == 0
        return
    if spec.kind == "numeric":
        assert result is None or math.isfinite(result)


@pytest.mark.parametrize("source", SOURCES)
@FUZZ
@given(value=json_values(wire=False), form=st.sampled_from(["records", "columns"]))
def test_any_value_of_a_field_encodes_or_names_that_field(encoder, source, value, form):
    record = {"cat": "a", source: value}
    memo = MemoEncoder(encoder, capacity=64)  # the server's fast path must fail the same way
    if form == "records":
        general = encode_or_field(encoder.encode_records, [record])
        fast = encode_or_field(memo.encode_records, [record])
    else:
        columns = {key: [v] for key, v in record.items()}
        general = encode_or_field(encoder.encode_columns, columns, 1)
        fast = encode_or_field(memo.encode_columns, columns, 1)
    assert general == fast
    assert general in (None, source)


@FUZZ
@given(st.dictionaries(st.sampled_from([*SOURCES, "nope", ""]), json_values(wire=False), max_size=6))
def test_any_record_encodes_or_names_one_of_its_keys(encoder, record):
    named = encode_or_field(encoder.encode_records, [record])
    assert named is None or named in record or named == "cat"  # "cat" is required: named when missing


@FUZZ
@given(json_values(wire=False))
def test_a_record_that_is_not_an_object_is_an_encoding_error(encoder, value):
    if isinstance(value, dict):
        return
    with pytest.raises(EncodingError):
        encoder.encode_records([value])


@pytest.mark.parametrize("weight", [1e10, -1e10, 1e30, 3.5e38, 1e308, 2**70])
@pytest.mark.parametrize("source", ["terms", "terms_sep", "weighted_one"])
def test_a_weight_too_large_for_the_model_is_refused_naming_its_field(encoder, source, weight):
    """Slot values are float32 and meet squared embedding sums: 1e30 became a NaN score (issue 20)."""
    value = f"a:{weight}" if source == "terms_sep" else {"w" if source == "weighted_one" else "gpu": weight}
    with pytest.raises(EncodingError, match="weights must be finite numbers within") as raised:
        encoder.encode_records([{"cat": "a", source: value}])
    assert raised.value.field == source


def test_weights_up_to_the_bound_are_kept_exactly(encoder):
    batch = encoder.encode_records([{"cat": "a", "terms": {"gpu": 1e9, "x": -1e9}}])
    terms = next(f for f in encoder.fields if f.spec.name == "terms")
    assert batch.values[0, terms.slot_start : terms.slot_start + 2].tolist() == [1e9, -1e9]
