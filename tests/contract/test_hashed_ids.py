"""The hashed id space: vocabulary-free encoding that must land on exactly the vocabulary's features."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.encoding import EncodedBatch, FeatureEncoder
from contract.hashing import HASH_MASK, feature_hash, hashed_field, hashed_oov
from tests.contract.test_encoding import SCHEMA, TRAIN


@pytest.fixture(scope="module")
def encoder():
    return FeatureEncoder.fit(SCHEMA.fields, [TRAIN])


@pytest.fixture(scope="module")
def hashed(encoder):
    return FeatureEncoder.from_layout(encoder.to_layout(), None)


def resolve(batch_ids: np.ndarray, encoder: FeatureEncoder) -> np.ndarray:
    """What a hash-keyed store does: a known id -> its feature's global id, else its field's OOV id.

    Only the ids themselves are used (not their slots): hashed ids name their field.
    """
    by_hash = {int(h): g for g, h in enumerate(encoder.feature_hashes())}
    out = np.empty_like(batch_ids)
    for where, h in np.ndenumerate(batch_ids):
        out[where] = by_hash.get(int(h), encoder.fields[int(hashed_field(h))].offset)
    return out


def test_feature_hash_is_pinned():
    # Store keys are derived from these numbers: a change here orphans every published version.
    assert feature_hash("user", "196") == 0x584361A37A64E4
    assert feature_hash("price", "#2") == 5156437745312271
    assert feature_hash("genres", "Sci-Fi") == 58277795994595473
    assert feature_hash("a", "b") != feature_hash("b", "a")
    assert 0 < feature_hash("x", "y") <= HASH_MASK


def test_hashed_encoder_holds_no_vocabulary(encoder, hashed):
    assert hashed.hashed and not encoder.hashed
    assert all(f.vocabulary == [] for f in hashed.fields)
    assert [f.size for f in hashed.fields] == [f.size for f in encoder.fields]
    assert hashed.num_slots == encoder.num_slots
    assert encoder.to_hashed().to_layout() == hashed.to_layout()
    with pytest.raises(ValueError, match="already hashed"):
        hashed.feature_hashes()


def test_feature_hashes_cover_every_feature_once_and_name_its_field(encoder):
    hashes = encoder.feature_hashes()
    assert hashes.shape == (encoder.num_features,)
    assert len(np.unique(hashes)) == encoder.num_features
    for j, f in enumerate(encoder.fields):
        own = hashes[f.offset : f.offset + f.size]
        assert own[0] == hashed_oov(j) and (own[1:] & HASH_MASK != 0).all()
        assert (hashed_field(own) == j).all()


RECORDS = [
    {"user": 2, "zip": "12377", "tags": ["c", "zzz"], "price": 50, "city": "PARIS"},
    {"user": "0003", "zip": 99999, "tags": "a|b|c", "price": "1e9", "city": "Oslo"},  # Oslo: below min_count
    {"user": 777, "zip": "55555", "tags": ["new", "b"], "price": -3, "city": "Atlantis"},  # unseen values
    {"user": 1},  # every optional field missing
]


def test_hashed_and_vocabulary_encodings_land_on_the_same_features(encoder, hashed):
    by_vocab = encoder.encode_records(RECORDS)
    by_hash = hashed.encode_records(RECORDS)
    np.testing.assert_array_equal(by_hash.values, by_vocab.values)
    np.testing.assert_array_equal(resolve(by_hash.ids, encoder), by_vocab.ids)
    # missing values and padding are their field's OOV id already; unseen values carry an id nobody published
    assert by_hash.ids[3, 1:].tolist() == [hashed_oov(j) for j in range(1, len(hashed.fields)) for _ in
                                           range(hashed.fields[j].spec.slots)]  # fmt: skip
    unseen = by_hash.ids[2, 0]
    assert unseen & HASH_MASK and unseen not in set(encoder.feature_hashes().tolist())
    assert hashed_field(unseen) == 0  # still names its field: user


def test_numeric_buckets_hash_by_bucket_index(encoder, hashed):
    price = next(f for f in hashed.fields if f.spec.name == "price")
    ids = hashed.encode_records([{"user": 1, "price": p} for p in (5, 50, 500)]).ids[:, price.slot_start]
    assert ids.tolist() == [hashed_oov(price.index) | feature_hash("price", f"#{k}") for k in (1, 2, 3)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"user": st.integers(0, 5)},
            optional={
                "zip": st.one_of(st.none(), st.sampled_from(["12345", "99999", "00000", ""])),
                "tags": st.lists(st.sampled_from(["a", "b", "c", "x"]), max_size=3),
                "price": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
                "city": st.one_of(st.none(), st.sampled_from(["Paris", "paris", "Rome", "Oslo", "Lima"])),
            },
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_records_agree_between_id_spaces(encoder, hashed, records):
    by_vocab = encoder.encode_records(records)
    by_hash = hashed.encode_records(records)
    np.testing.assert_array_equal(by_hash.values, by_vocab.values)
    np.testing.assert_array_equal(resolve(by_hash.ids, encoder), by_vocab.ids)


def test_oov_fields_need_the_store_to_resolve_unseen_hashes(encoder, hashed):
    by_hash = hashed.encode_records(RECORDS[2:3])
    assert hashed.oov_fields(by_hash) == [[]]  # unseen but not yet looked up
    resolved = by_hash.ids.copy()
    unknown = ~np.isin(resolved, encoder.feature_hashes())
    resolved[unknown] = hashed_oov(hashed_field(resolved[unknown]))
    assert hashed.oov_fields(EncodedBatch(resolved, by_hash.values)) == encoder.oov_fields(
        encoder.encode_records(RECORDS[2:3])
    )


def test_hashed_ids_are_named_as_far_as_they_can_be(encoder, hashed):
    price = next(f for f in hashed.fields if f.spec.name == "price")
    assert hashed.feature_name(hashed_oov(price.index)) == "price=<oov>"
    assert hashed.feature_name(int(price.bucket_ids[2])) == "price=[10,100)"  # buckets come from the layout
    h = feature_hash("user", "2")
    assert hashed.feature_name(h) == f"user=#{h:014x}"  # the value itself is not recoverable
    assert encoder.feature_name(encoder.fields[0].offset + 1) == "user=2"


def test_ids_keep_their_field_whatever_their_position(hashed):
    ids = hashed.encode_records(RECORDS).ids
    for j, f in enumerate(hashed.fields):
        assert (hashed_field(ids[:, f.slot_start : f.slot_start + f.spec.slots]) == j).all()


def test_hash_memo_stays_bounded(hashed):
    from contract.hashing import HASH_MEMO

    user = hashed.fields[0]
    ids = user.feature_ids([str(i) for i in range(HASH_MEMO + 100)])
    assert len(user.ids) <= HASH_MEMO
    assert ids[-1] == feature_hash("user", str(HASH_MEMO + 99))


def test_fields_with_given_weights_agree_between_id_spaces():
    from contract.schema import parse_schema

    schema = parse_schema({"name": "w", "label": {"column": "y"}, "fields": [
        {"name": "u", "required": True},
        {"name": "kw", "kind": "multi_categorical", "weighting": "given", "separator": "|", "max_length": 3},
    ]})  # fmt: skip
    vocab = FeatureEncoder.fit(schema.fields, [{"u": ["a", "b"], "kw": ["x:1|y:2", "y:0.5"]}])
    hashed = vocab.to_hashed()
    records = [{"u": "a", "kw": {"x": 0.25, "new": 3.0}}, {"u": "zzz", "kw": "y:2|x:1"}, {"u": "b"}]
    by_vocab, by_hash = vocab.encode_records(records), hashed.encode_records(records)
    np.testing.assert_array_equal(by_hash.values, by_vocab.values)
    np.testing.assert_array_equal(resolve(by_hash.ids, vocab), by_vocab.ids)
    assert by_hash.ids[0, 1] == hashed_oov(1) | feature_hash("kw", "x")  # a known value keeps its own id


def test_vocabulary_fields_still_give_local_ids(encoder, hashed):
    user = encoder.fields[0]
    assert user.local_ids(["2", "999", None]).tolist() == [1, 0, -1]
    with pytest.raises(ValueError, match="no local ids"):
        hashed.fields[0].local_ids(["2"])
