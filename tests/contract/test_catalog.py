"""The candidate catalog: exact terms, id lookup by the contract's rules, files with sha256s and generations."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.artifact import load_artifact, write_artifact
from contract.catalog import Catalog, CatalogError, build_catalog, candidate_fields, key_field
from contract.catalog_files import (
    CATALOG_DIR,
    catalog_from_blobs,
    current_generation,
    load_catalog_dir,
    read_blobs,
    set_current,
    to_hashed,
    write_catalog,
)
from contract.encoding import FeatureEncoder
from contract.fm import fm_logit, side_slots
from contract.schema import parse_schema

SCHEMA = parse_schema({
    "name": "shop", "label": {"column": "y"}, "candidate_id": "item",
    "fields": [
        {"name": "item", "side": "candidate", "dtype": "int", "required": True},
        {"name": "user", "side": "context"},
        {"name": "tags", "kind": "multi_categorical", "side": "candidate", "max_length": 3, "weighting": "mean",
         "separator": "|"},
        {"name": "brand", "side": "candidate", "transform": "lower"},
        {"name": "price", "kind": "numeric", "side": "candidate", "boundaries": [10, 100]},
    ],
})  # fmt: skip
ITEMS = [
    {"item": 1, "tags": ["a", "b"], "brand": "Acme", "price": 5},
    {"item": 2, "tags": "c|a", "brand": "globex"},
    {"item": "3", "price": 500, "user": "ignored: a context key"},
    {"item": 1, "tags": ["c"], "brand": "ACME", "price": 50},  # item 1 again: this later record wins
    {"brand": "no id: skipped"},
    {"item": 77},  # an id the model never saw: its fields are OOV, it is still a catalog item
]


@pytest.fixture
def artifact(tmp_path):
    encoder = FeatureEncoder.build(
        SCHEMA.fields, {"item": ["1", "2", "3"], "user": ["u"], "tags": ["a", "b", "c"], "brand": ["acme", "globex"]},
        {"price": [10.0, 100.0]},
    )  # fmt: skip
    rng = np.random.default_rng(1)
    path = write_artifact(
        tmp_path, "shop", encoder=encoder, linear=rng.normal(size=encoder.num_features),
        embedding=rng.normal(size=(encoder.num_features, 4)), bias=0.1, onnx_model=b"-", manifest_extra={},
    )  # fmt: skip
    return load_artifact(path)


def test_terms_are_the_split_fm_of_the_latest_record_per_id(artifact):
    data = build_catalog(artifact.encoder, artifact.table, ITEMS, "item")
    assert data.keys == ["2", "3", "1", "77"]  # the order of each id's latest record
    items = [json.loads(line) for line in data.items.decode().splitlines()]
    assert items[2] == {"item": 1, "tags": ["c"], "brand": "ACME", "price": 50}
    assert items[1] == {"item": "3", "price": 500}  # only candidate fields are kept
    # own + <S_i, S_c> + context terms = the FM of the merged row, for any context
    encoder = artifact.encoder
    context = {"user": "u"}
    merged = encoder.encode_records([{**context, **item} for item in items])
    exact = fm_logit(artifact.table[merged.ids], merged.values, 0.0)
    ctx = encoder.encode_columns({"user": ["u"]}, 1, [f for f in encoder.fields if f.spec.side == "context"])
    c_slots = side_slots([f for f in encoder.fields if f.spec.side == "context"])
    c_rows = artifact.table[ctx.ids[0, c_slots]].astype(np.float64) * ctx.values[0, c_slots, None]
    c_sum = c_rows[:, 1:].sum(axis=0)
    c_own = c_rows[:, 0].sum() + 0.5 * (c_sum @ c_sum - (c_rows[:, 1:] ** 2).sum())
    np.testing.assert_allclose(c_own + data.own + data.sums @ c_sum, exact, rtol=0, atol=1e-12)
    slots = side_slots(candidate_fields(encoder))
    np.testing.assert_array_equal(data.ids, merged.ids[:, slots])


def test_locate_follows_the_contracts_id_rules(artifact):
    data = build_catalog(artifact.encoder, artifact.table, ITEMS, "item")
    catalog = Catalog(data, key_field(artifact.encoder, "item"), generation="g", model_version=artifact.version)
    rows = catalog.locate([1, "1", "01", " 2", 3.0, 77, 999, "999"])
    assert rows.tolist() == [2, 2, 2, 0, 1, 3, -1, -1]
    assert catalog.item(2)["brand"] == "ACME" and catalog.key(0) == "2"
    for bad, message in ((True, "boolean"), (None, "null"), ([1], "a list"), ({"a": 1}, "an object"), (1.5, "1.5"),
                         ("abc", "integer"), ("", "empty")):  # fmt: skip
        with pytest.raises(Exception, match=message) as info:
            catalog.locate([1, bad])
        assert info.value.row == 1 and info.value.field == "item"


@given(ids=st.lists(st.integers(-3, 90) | st.integers(2**62, 2**70), max_size=30))
@settings(max_examples=200, deadline=None)
def test_integer_ids_through_the_dense_table_equal_the_dict_lookup(artifact_once, ids):
    catalog = artifact_once
    assert catalog._dense is not None  # ids 1..77: the dense table is in use
    dense = catalog.locate(ids)
    table, catalog._dense = catalog._dense, None
    try:
        assert dense.tolist() == catalog.locate(ids).tolist()
    finally:
        catalog._dense = table
    assert dense.tolist() == [{1: 2, 2: 0, 3: 1, 77: 3}.get(i, -1) for i in ids]


@pytest.fixture(scope="module")
def artifact_once(tmp_path_factory):
    encoder = FeatureEncoder.build(SCHEMA.fields, {"item": ["1", "2", "3"]}, {"price": [10.0, 100.0]})
    table = np.random.default_rng(2).normal(size=(encoder.num_features, 3)).astype(np.float32)
    return Catalog(build_catalog(encoder, table, ITEMS, "item"), key_field(encoder, "item"), generation="g",
                   model_version="v")  # fmt: skip


def test_files_round_trip_with_generations_and_the_current_pointer(artifact):
    data = build_catalog(artifact.encoder, artifact.table, ITEMS, "item")
    assert load_catalog_dir(artifact.path, artifact) is None  # no catalog yet
    first = write_catalog(artifact.path, data, key="item", source={"test": 1})
    second = write_catalog(artifact.path, data, key="item", source={"test": 2}, activate=False)
    assert current_generation(artifact.path) == first != second
    catalog = load_catalog_dir(artifact.path, artifact)
    assert catalog is not None and catalog.generation == first and len(catalog) == 4
    np.testing.assert_array_equal(catalog.sums, data.sums)
    assert catalog.manifest["model"] == {"name": "shop", "version": artifact.version}
    set_current(artifact.path, second)
    assert load_catalog_dir(artifact.path, artifact).generation == second
    with pytest.raises(CatalogError, match="not a complete"):
        set_current(artifact.path, "nope")
    for _ in range(4):  # old generations are collected, never the current one
        write_catalog(artifact.path, data, key="item", source={}, activate=False)
    kept = sorted(p.name for p in (artifact.path / CATALOG_DIR).iterdir() if p.name != "CURRENT")
    assert len(kept) == 4 and second in kept
    load_artifact(artifact.path)  # the version's own checksums are untouched


def test_a_tampered_or_foreign_catalog_is_refused(artifact, tmp_path):
    data = build_catalog(artifact.encoder, artifact.table, ITEMS, "item")
    generation = write_catalog(artifact.path, data, key="item", source={})
    manifest, blobs = read_blobs(artifact.path, generation)
    sums = np.load(artifact.path / CATALOG_DIR / generation / "sums.npy")
    np.save(artifact.path / CATALOG_DIR / generation / "sums.npy", sums * 1.001)
    with pytest.raises(CatalogError, match=r"sums\.npy does not match the sha256"):
        load_catalog_dir(artifact.path, artifact)
    other = write_artifact(tmp_path / "other", "shop", encoder=artifact.encoder, linear=artifact.table[:, 0],
                           embedding=artifact.table[:, 1:], bias=0.0, onnx_model=b"-", manifest_extra={})  # fmt: skip
    with pytest.raises(CatalogError, match="built for model version"):
        catalog_from_blobs(manifest, blobs, load_artifact(other))
    with pytest.raises(CatalogError, match="id space"):
        catalog_from_blobs(*to_hashed(manifest, blobs, artifact.encoder), artifact)
    with pytest.raises(CatalogError, match="not a categorical candidate field"):
        build_catalog(artifact.encoder, artifact.table, ITEMS, "user")


def test_hashed_catalog_ids_are_the_hashed_features_of_the_same_slots(artifact):
    data = build_catalog(artifact.encoder, artifact.table, ITEMS, "item")
    generation = write_catalog(artifact.path, data, key="item", source={})
    manifest, blobs = to_hashed(*read_blobs(artifact.path, generation), artifact.encoder)

    class Replica:  # a Redis replica's view: the layout only, hashed ids
        version, encoder, embedding_dim = artifact.version, artifact.encoder.to_hashed(), 4

    catalog = catalog_from_blobs(manifest, blobs, Replica())
    np.testing.assert_array_equal(catalog.ids, artifact.encoder.feature_hashes()[data.ids])
    hashed = Replica.encoder.encode_records([{"item": 1, "tags": ["c"], "brand": "ACME", "price": 50}])
    np.testing.assert_array_equal(catalog.ids[2], hashed.ids[0, side_slots(candidate_fields(Replica.encoder))])
