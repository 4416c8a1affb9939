import numpy as np
import pytest

from contract.encoding import FeatureEncoder
from contract.schema import parse_schema
from contract.values import EncodingError

SCHEMA = parse_schema(
    {
        "name": "t",
        "label": {"column": "y"},
        "fields": [
            {"name": "user", "dtype": "int", "required": True},
            {"name": "zip3", "source": "zip", "transform": "prefix:3"},
            {"name": "tags", "kind": "multi_categorical", "separator": "|", "weighting": "mean", "max_length": 3},
            {"name": "price", "kind": "numeric", "boundaries": [10, 100]},
            {"name": "city", "min_count": 2, "transform": "lower"},
        ],
    }
)
TRAIN = {
    "user": ["1", "2", "2", "3"],
    "zip": ["12345", "12399", "99999", None],
    "tags": ["a|b", "b", "b|c|a", ""],
    "price": ["5", "50", "500", ""],
    "city": ["Paris", "paris", "Rome", "Oslo"],
}


@pytest.fixture(scope="module")
def encoder():
    return FeatureEncoder.fit(SCHEMA.fields, [TRAIN])


def field(encoder, name):
    return next(f for f in encoder.fields if f.spec.name == name)


def test_fit_orders_by_count_and_applies_min_count(encoder):
    assert field(encoder, "user").vocabulary == ["2", "1", "3"]
    assert field(encoder, "zip3").vocabulary == ["123", "999"]
    assert field(encoder, "tags").vocabulary == ["b", "a", "c"]
    assert field(encoder, "city").vocabulary == ["paris"]  # Rome/Oslo seen once: OOV
    assert encoder.num_slots == 1 + 1 + 3 + 1 + 1
    assert encoder.num_features == 4 + 3 + 4 + 4 + 2


def test_layout_is_contiguous(encoder):
    offsets = [f.offset for f in encoder.fields]
    sizes = [f.size for f in encoder.fields]
    assert offsets == list(np.cumsum([0, *sizes[:-1]]))


def test_encodes_one_record_exactly(encoder):
    batch = encoder.encode_records([{"user": 2, "zip": "12377", "tags": ["c", "zzz"], "price": 50, "city": "PARIS"}])
    u, z, t, p, c = (field(encoder, n) for n in ("user", "zip3", "tags", "price", "city"))
    assert batch.ids.tolist() == [[u.offset + 1, z.offset + 1, t.offset + 3, t.offset + 0, t.offset, p.offset + 2,
                                   c.offset + 1]]  # fmt: skip
    assert batch.values.tolist() == [[1, 1, 0.5, 0.5, 0, 1, 1]]
    assert batch.ids.dtype == np.int64 and batch.values.dtype == np.float32


def test_missing_optional_fields_are_oov_with_value_one(encoder):
    batch = encoder.encode_records([{"user": 1}])
    starts = [f.slot_start for f in encoder.fields]
    assert batch.ids[0, starts].tolist() == [field(encoder, "user").offset + 2] + [f.offset for f in encoder.fields[1:]]
    assert batch.values[0].tolist() == [1, 1, 1, 0, 0, 1, 1]
    assert encoder.oov_fields(batch) == [["zip3", "tags", "price", "city"]]


@pytest.mark.parametrize("same", [1, "1", "01", 1.0, np.int64(1)])
def test_integer_ids_are_coerced_losslessly(encoder, same):
    assert encoder.encode_records([{"user": same}]).ids[0, 0] == field(encoder, "user").offset + 2


@pytest.mark.parametrize(
    ("record", "field_name", "message"),
    [
        ({"zip": "1"}, "user", "required field is missing"),
        ({"user": None}, "user", "required field is missing"),
        ({"user": "abc"}, "user", "expected an integer id"),
        ({"user": 1.5}, "user", "expected a string or integer id"),
        ({"user": True}, "user", "got a boolean"),
        ({"user": 1, "zip": {"a": 1}}, "zip", "got an object"),
        ({"user": 1, "price": "cheap"}, "price", "expected a number"),
        ({"user": 1, "price": [1]}, "price", "expected a number"),
        ({"user": 1, "price": float("inf")}, "price", "finite"),
        ({"user": 1, "tags": ["a", "b", "c", "d"]}, "tags", "more than max_length=3"),
        ({"user": 1, "tags": 3}, "tags", "expected a list"),
        ({"user": 1, "colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_values_name_the_field(encoder, record, field_name, message):
    with pytest.raises(EncodingError) as info:
        encoder.encode_records([{"user": 1}, record])
    assert info.value.field == field_name
    assert message in str(info.value)


def test_records_columns_and_numpy_columns_agree(encoder):
    records = [
        {"user": 1, "zip": "99911", "tags": "a|c", "price": 9.5, "city": "Rome"},
        {"user": "3", "tags": ["b"], "price": "1000"},
        {"user": 7, "zip": 12345, "city": None},
    ]
    by_records = encoder.encode_records(records)
    columns = {s: [r.get(s) for r in records] for s in encoder.sources}
    by_columns = encoder.encode_columns(columns, 3)
    by_arrays = encoder.encode_columns({k: np.array(v, dtype=object) for k, v in columns.items()}, 3)
    for other in (by_columns, by_arrays):
        np.testing.assert_array_equal(by_records.ids, other.ids)
        np.testing.assert_array_equal(by_records.values, other.values)


def test_layout_round_trip_encodes_identically(encoder):
    rebuilt = FeatureEncoder.from_layout(encoder.to_layout(), encoder.vocabularies())
    batch = encoder.encode_columns(TRAIN, 4)
    again = rebuilt.encode_columns(TRAIN, 4)
    np.testing.assert_array_equal(batch.ids, again.ids)
    np.testing.assert_array_equal(batch.values, again.values)


def test_feature_names(encoder):
    assert encoder.feature_name(field(encoder, "tags").offset + 2) == "tags=a"
    assert encoder.feature_name(field(encoder, "price").offset) == "price=<oov>"
    assert encoder.feature_name(field(encoder, "price").offset + 2) == "price=[10,100)"


def test_quantile_and_log_buckets():
    schema = parse_schema(
        {
            "name": "n",
            "label": {"column": "y"},
            "fields": [{"name": "q", "kind": "numeric", "buckets": 4}, {"name": "g", "kind": "numeric", "log": True}],
        }
    )
    values = [str(v) for v in range(100)]
    encoder = FeatureEncoder.fit(schema.fields, [{"q": values, "g": values}])
    q, g = encoder.fields
    assert q.boundaries.tolist() == pytest.approx([24.75, 49.5, 74.25])
    assert g.boundaries.tolist() == [1, 3, 7, 15, 31, 63, 127]
    local = g.buckets([0, 1, 2, 3, 99, 1e9])
    assert local.tolist() == [1, 2, 2, 3, 7, 8]  # floor(log2(x + 1)) + 1, capped at the top bucket


def test_numeric_field_without_training_values_is_an_error():
    schema = parse_schema(
        {"name": "n", "label": {"column": "y"}, "fields": [{"name": "q", "kind": "numeric", "buckets": 4}]}
    )
    with pytest.raises(EncodingError, match="no values"):
        FeatureEncoder.fit(schema.fields, [{"q": ["", None]}])


WEIGHTED = parse_schema(
    {
        "name": "w",
        "label": {"column": "y"},
        "fields": [
            {"name": "user", "dtype": "int"},
            {"name": "terms", "kind": "multi_categorical", "separator": "|", "weighting": "given", "max_length": 3},
        ],
    }
)


@pytest.fixture(scope="module")
def weighted():
    return FeatureEncoder.fit(WEIGHTED.fields, [{"user": ["1", "2"], "terms": ["a:0.5|b:2", {"b": 1, "c": 0.25}]}])


def test_given_weights_become_slot_values(weighted):
    terms = weighted.fields[1]
    assert terms.vocabulary == ["b", "a", "c"]  # counted like any multi-valued field
    batch = weighted.encode_records([{"user": 1, "terms": {"a": 0.5, "zzz": 3, "c": -1.5}}])
    assert batch.ids[0, 1:].tolist() == [terms.offset + 2, terms.offset + 0, terms.offset + 3]
    assert batch.values[0, 1:].tolist() == [0.5, 3.0, -1.5]  # an unseen value keeps its weight on the OOV id


def test_every_weighted_form_encodes_the_same(weighted):
    forms = [{"b": 2, "a": 0.5}, [["b", 2], ["a", 0.5]], ["b:2", "a:0.5"], "b:2|a:0.5", ("b:2.0", ("a", "0.5"))]
    batches = [weighted.encode_records([{"user": 2, "terms": form}]) for form in forms]
    for batch in batches[1:]:
        np.testing.assert_array_equal(batch.ids, batches[0].ids)
        np.testing.assert_array_equal(batch.values, batches[0].values)
    assert batches[0].values[0].tolist() == [1, 2, 0.5, 0]


def test_missing_weighted_field_is_oov_with_value_one(weighted):
    for missing in (None, {}, "", []):
        batch = weighted.encode_records([{"user": 2, "terms": missing}])
        assert batch.values[0].tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("b", "expected 'value:weight', got 'b'"),
        (["b"], "expected 'value:weight'"),
        ([["b", 1, 2]], "expected a [value, weight] pair"),
        ({"b": "heavy"}, "expected a numeric weight, got 'heavy'"),
        ({"b": True}, "expected a numeric weight, got a boolean"),
        ({"b": float("nan")}, "finite"),
        ({"a": 1, "b": 1, "c": 1, "d": 1}, "more than max_length=3"),
        (7, "expected an object of {value: weight}, got int"),
    ],
)
def test_bad_weighted_values_name_the_field(weighted, value, message):
    with pytest.raises(EncodingError) as info:
        weighted.encode_records([{"user": 1, "terms": value}])
    assert info.value.field == "terms"
    assert message in str(info.value)


def test_weighted_layout_round_trip(weighted):
    rebuilt = FeatureEncoder.from_layout(weighted.to_layout(), weighted.vocabularies())
    records = [{"user": 1, "terms": {"c": 0.3}}, {"user": 5, "terms": "a:1|b:-2"}]
    np.testing.assert_array_equal(rebuilt.encode_records(records).values, weighted.encode_records(records).values)


def test_counting_chunk_by_chunk_fits_like_one_table(encoder):
    from contract.fitting import ValueCounts

    chunks = [{k: v[i : i + 1] for k, v in TRAIN.items()} for i in range(4)]
    counts = ValueCounts(SCHEMA.fields)
    for chunk in chunks:
        counts.add(chunk)
    streamed = FeatureEncoder.from_counts(SCHEMA.fields, counts)
    assert streamed.vocabularies() == encoder.vocabularies()
    assert streamed.to_layout() == encoder.to_layout()
    assert counts.values["city"] == {"paris": 2, "rome": 1, "oslo": 1}  # before min_count
