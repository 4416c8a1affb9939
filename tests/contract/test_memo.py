"""MemoEncoder (the serving fast path) must be the general encoder, bit for bit, errors included."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.encoding import EncodedBatch, FeatureEncoder
from contract.memo import MemoEncoder
from contract.values import EncodingError
from tests.contract.test_encoding import SCHEMA, TRAIN, WEIGHTED

# Raw values of every JSON type, including the ones the contract treats differently although
# Python calls them equal (1 == 1.0 == True), bad ones (lists in scalar fields, text in numbers),
# unhashable ones, any text and any integer; typical values keep the memo's hit path exercised.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-3, 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(),
    st.text(alphabet="0123456789-+. ²٣", max_size=4),
    st.sampled_from(["", "1", "01", " 2", "x", "12345", "99999", "Paris", "paris", "a", "b", "c", "5", "a|b"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.text(max_size=2), SCALARS, max_size=2))
KEYS = st.sampled_from(["user", "zip", "tags", "price", "city", "unknown"])
ANY_RECORD = st.dictionaries(KEYS, VALUES, max_size=6)
# Most batches must be valid, or every one would take the general path and the memo go untested.
GOOD_RECORD = st.fixed_dictionaries(
    {"user": st.one_of(st.integers(0, 5), st.sampled_from(["1", "2", "02"]))},
    optional={
        "zip": st.one_of(st.none(), st.sampled_from(["12345", "12399", "99999", ""])),
        "tags": st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c", "x", 1]), max_size=3), st.just("a|b")),
        "price": st.one_of(st.none(), st.floats(-1e3, 1e3), st.integers(0, 200), st.just("50")),
        "city": st.one_of(st.none(), st.sampled_from(["Paris", "paris", "Oslo", "Lima"])),
    },
)
RECORDS = st.one_of(
    st.lists(GOOD_RECORD, min_size=1, max_size=6),
    st.lists(st.one_of(GOOD_RECORD, ANY_RECORD), min_size=1, max_size=6),
)


@pytest.fixture(scope="module")
def encoders():
    general = FeatureEncoder.fit(SCHEMA.fields, [TRAIN])
    return general, MemoEncoder(general, capacity=8)  # tiny: the memo fills and empties during the test


def outcome(encode, *args):
    try:
        batch = encode(*args)
    except EncodingError as exc:
        return ("error", str(exc), exc.field, exc.row)
    return ("ok", batch.ids.tolist(), batch.values.tolist(), batch.ids.dtype, batch.values.dtype)


@settings(max_examples=400, deadline=None)
@given(records=RECORDS)
def test_records_encode_exactly_like_the_general_encoder(encoders, records):
    general, memo = encoders
    want = outcome(general.encode_records, records)
    assert outcome(memo.encode_records, records) == want
    assert outcome(memo.encode_records, records) == want  # again, now from the memo


@settings(max_examples=300, deadline=None)
@given(records=RECORDS, drop=st.sampled_from([None, "zip", "tags", "user"]))
def test_columns_encode_exactly_like_the_general_encoder(encoders, records, drop):
    general, memo = encoders
    columns = {s: [r.get(s) for r in records] for s in general.sources if s != drop}
    want = outcome(general.encode_columns, columns, len(records))
    assert outcome(memo.encode_columns, columns, len(records)) == want
    assert outcome(memo.encode_columns, columns, len(records)) == want


@settings(max_examples=300, deadline=None)
@given(record=st.one_of(GOOD_RECORD, ANY_RECORD), subset=st.sampled_from([(0, 2), (1, 4), (2, 5), (0, 5), (3, 3)]))
def test_one_records_fields_encode_like_the_general_encoder_on_their_slots(encoders, record, subset):
    """encode_fields (a ranking context) = encode_columns restricted to those fields, on their slots."""
    general, memo = encoders
    fields = general.fields[subset[0] : subset[1]]
    slots = [s for f in fields for s in range(f.slot_start, f.slot_start + f.spec.slots)]

    def on_slots(encode):
        batch = encode({key: [value] for key, value in record.items()}, 1, fields)
        return EncodedBatch(batch.ids[:, slots], batch.values[:, slots])

    def fields_only(encode_fields):
        ids, values = encode_fields(record, fields)
        return EncodedBatch(ids[None], values[None])

    want = outcome(on_slots, general.encode_columns)
    assert outcome(fields_only, memo.encode_fields) == want
    assert outcome(fields_only, memo.encode_fields) == want  # again, now from the memo


def test_equal_but_differently_typed_values_are_not_confused(encoders):
    general, memo = encoders
    ok = {"user": 1, "tags": [1], "price": 5, "city": "1"}
    assert outcome(memo.encode_records, [ok]) == outcome(general.encode_records, [ok])
    assert outcome(memo.encode_records, [ok, ok]) == outcome(general.encode_records, [ok, ok])
    for bad in ({"user": True}, {"tags": [True]}, {"city": 1.0}, {"tags": [1.5]}):
        for rows in ([{**ok, **bad}], [ok, {**ok, **bad}]):
            want = outcome(general.encode_records, rows)
            assert outcome(memo.encode_records, rows) == want


def test_a_subset_of_fields_is_encoded_like_the_general_encoder(encoders):
    general, memo = encoders
    fields = general.fields[2:4]
    columns = {"tags": [["a", "b"], "c", None], "price": [5, "50", None]}
    want, got = general.encode_columns(columns, 3, fields), memo.encode_columns(columns, 3, fields)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.values, want.values)


def test_given_weights_are_encoded_like_the_general_encoder():
    general = FeatureEncoder.fit(WEIGHTED.fields, [{"user": ["1", "2"], "terms": ["a:0.5|b:2", {"b": 1, "c": 0.25}]}])
    memo = MemoEncoder(general)
    records = [{"user": 2, "terms": "a:0.5|b:2"}, {"terms": [["b", 1], ["c", 0.25]]}, {"terms": {"a": 3}}]
    for _ in range(2):
        assert outcome(memo.encode_records, records) == outcome(general.encode_records, records)


def test_the_memo_stays_within_its_capacity(encoders):
    general, _ = encoders
    memo = MemoEncoder(general, capacity=4)
    for user in range(50):
        memo.encode_records([{"user": user, "zip": f"{user:05d}"}])
    assert all(len(m.cells) <= 4 for m in memo._memos)


def test_capacity_zero_is_the_general_encoder(encoders):
    general, _ = encoders
    memo = MemoEncoder(general, capacity=0)
    batch = memo.encode_records([{"user": 1}])
    np.testing.assert_array_equal(batch.ids, general.encode_records([{"user": 1}]).ids)
    assert all(not m.cells for m in memo._memos)
