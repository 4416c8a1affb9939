"""Every field kind against arbitrary JSON values and arbitrary text: an encoded row or an EncodingError
naming the field, never anything else (issue 16.1: a fixed list of values missed "²" for int ids).

Three encoders see the same input: the general one (vocabulary ids), the hashed one (serving from
Redis) and the memoised fast path; they must agree on what is an error.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.encoding import FeatureEncoder
from contract.memo import MemoEncoder
from contract.schema import parse_schema
from contract.values import EncodingError

# Every field kind, dtype, transform, separator and weighting the schema allows.
SCHEMA = parse_schema(
    {
        "name": "every_kind",
        "label": {"column": "y"},
        "fields": [
            {"name": "uid", "dtype": "int", "required": True},
            {"name": "city", "transform": "lower"},
            {"name": "zip3", "source": "zip", "transform": "prefix:3"},
            {"name": "tags", "kind": "multi_categorical", "separator": "|", "max_length": 3},
            {"name": "ids", "kind": "multi_categorical", "dtype": "int", "weighting": "mean", "max_length": 2},
            {"name": "terms", "kind": "multi_categorical", "separator": " ", "weighting": "given", "max_length": 3},
            {"name": "price", "kind": "numeric", "boundaries": [10, 100]},
            {"name": "visits", "kind": "numeric", "log": True},
        ],
    }
)
TRAIN = {
    "uid": ["1", "2", "3"], "city": ["Paris", "Oslo", "paris"], "zip": ["12345", "99999", None],
    "tags": ["a|b", "b", ""], "ids": [[1, 2], [2], None], "terms": ["a:1 b:0.5", {"c": 2}, None],
    "price": [5, 50, 500], "visits": [0, 3, 40],
}  # fmt: skip
SOURCES = [f.source for f in SCHEMA.fields]

# JSON as a client may send it: any text (not a fixed list), any size of integer, any float, nested.
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text())
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
# Text that looks numeric to str methods: digits of other scripts, signs, exponents, spaces.
NUMERIC_LOOKING = st.text(alphabet="0123456789-+.eE _²³¹٣٤०१\u00a0", max_size=6)
FIELD_VALUE = st.one_of(JSON_VALUES, NUMERIC_LOOKING)
RECORD = st.dictionaries(st.sampled_from(SOURCES), FIELD_VALUE, max_size=len(SOURCES)).map(
    lambda r: {"uid": 1, **r}  # mostly present, so the other fields are reached, not just "uid is missing"
)


@pytest.fixture(scope="module")
def encoders():
    general = FeatureEncoder.fit(SCHEMA.fields, [TRAIN])
    hashed = general.to_hashed()
    return {"general": general, "hashed": hashed, "memo": MemoEncoder(general, capacity=16),
            "memo_hashed": MemoEncoder(hashed, capacity=16)}  # fmt: skip


def outcome(encode, *args):
    """("ok", values) or ("error", field); any other exception fails the test."""
    try:
        batch = encode(*args)
    except EncodingError as exc:
        assert exc.field in SOURCES, exc  # the field at fault is named (records here only use known keys)
        return ("error", exc.field, exc.row)
    assert batch.ids.dtype == np.int64 and batch.values.dtype == np.float32
    assert np.isfinite(batch.values).all()  # weights and values are checked finite by the contract
    return ("ok", batch.values.tolist())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(RECORD, min_size=1, max_size=4))
def test_records_of_any_json_encode_or_name_the_field(encoders, records):
    results = {name: outcome(encoder.encode_records, records) for name, encoder in encoders.items()}
    assert len({repr(r) for r in results.values()}) == 1, results


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(RECORD, min_size=1, max_size=4))
def test_columns_of_any_json_encode_or_name_the_field(encoders, records):
    columns = {s: [r.get(s) for r in records] for s in SOURCES}
    results = {name: outcome(e.encode_columns, columns, len(records)) for name, e in encoders.items()}
    assert len({repr(r) for r in results.values()}) == 1, results


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_in_any_field(encoders, text):
    for source in SOURCES:
        record = {"uid": 1, source: text} if source != "uid" else {"uid": text}
        results = {name: outcome(e.encode_records, [record]) for name, e in encoders.items()}
        assert len({repr(r) for r in results.values()}) == 1, results
        kind, *rest = results["general"]
        if kind == "error":
            assert rest[0] == source


@pytest.mark.parametrize("huge", [10**400, -(10**400)])
def test_integers_beyond_float_range_are_not_a_number_here(encoders, huge):
    for source in ("price", "visits"):
        assert outcome(encoders["general"].encode_records, [{"uid": 1, source: huge}]) == ("error", source, 0)
    assert outcome(encoders["general"].encode_records, [{"uid": 1, "terms": {"a": huge}}]) == ("error", "terms", 0)
    assert outcome(encoders["general"].encode_records, [{"uid": huge}])[0] == "ok"  # an id: any integer is a name
