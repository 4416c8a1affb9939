"""The exact bytes of every Redis key: replicas and publishers of different releases must agree on them."""

import numpy as np
import pytest

from app.stores.redis_keys import ModelKeys, VersionKeys, check_name, pack_rows, unpack_rows
from contract.hashing import feature_hash

VERSION = "20261129T120501Z-3fa2b1"


def test_model_keys():
    keys = ModelKeys("ml100k")
    assert keys.active == b"ctr:ml100k:active"
    assert keys.versions == b"ctr:ml100k:versions"
    assert keys.channel == b"ctr:ml100k:activations"


def test_version_keys():
    keys = VersionKeys("ml100k", VERSION, 32)
    assert keys.manifest == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:manifest"
    assert keys.onnx == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:onnx"
    assert keys.oov == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:oov"
    assert keys.counts[30] == b"ctr:{ml100k:20261129T120501Z-3fa2b1:30}:n"
    assert keys.feature_pattern == b"ctr:{ml100k:20261129T120501Z-3fa2b1:*}:e:*"


def test_catalog_keys_share_the_versions_hash_tag():
    keys = VersionKeys("ml100k", VERSION, 32)
    assert keys.catalog == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:catalog"
    assert keys.catalogs == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:catalogs"
    gen = "20261203T101500Z-ab12cd"
    assert (
        keys.catalog_manifest(gen) == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:catalog:20261203T101500Z-ab12cd:manifest"
    )
    assert keys.catalog_part(gen, "sums.npy", 2) == (
        b"ctr:{ml100k:20261129T120501Z-3fa2b1}:catalog:20261203T101500Z-ab12cd:sums.npy:2"
    )
    assert keys.catalog_pattern == b"ctr:{ml100k:20261129T120501Z-3fa2b1}:catalog:*"
    with pytest.raises(ValueError, match="catalog generation"):
        keys.catalog_manifest("a*b")


def test_feature_key_of_a_raw_value():
    # item_id is field 5 of datasets/ml100k.toml: id = 5 << 56 | feature_hash("item_id", "242"); shard = id % 32
    feature = (5 << 56) | feature_hash("item_id", "242")
    assert feature == 0x05F35E5AB8352E9A
    keys = VersionKeys("ml100k", VERSION, 32)
    assert keys.feature(feature) == b"ctr:{ml100k:20261129T120501Z-3fa2b1:26}:e:05f35e5ab8352e9a"
    user = feature_hash("user_id", "196")  # field 0: the id is the bare hash, zero-padded to 16 digits
    assert keys.features(np.array([user, 1])) == [
        b"ctr:{ml100k:20261129T120501Z-3fa2b1:30}:e:001f3e6391c5f65e",
        b"ctr:{ml100k:20261129T120501Z-3fa2b1:1}:e:0000000000000001",
    ]
    assert keys.shard_of(np.array([feature, 1, 64])).tolist() == [26, 1, 0]


def test_rows_are_little_endian_float32():
    assert pack_rows(np.array([[1.0, -2.0]])) == b"\x00\x00\x80\x3f\x00\x00\x00\xc0"
    rows = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_array_equal(unpack_rows(pack_rows(rows), 5), rows)
    with pytest.raises(ValueError, match="whole rows"):
        unpack_rows(b"\x00" * 7, 5)


@pytest.mark.parametrize("bad", ["a:b", "a{b", "a}b", "a*", "a?", "a[b]", "a b", "", "x" * 101])
def test_names_that_would_break_keys_or_patterns_are_refused(bad):
    with pytest.raises(ValueError):
        check_name("model name", bad)
    with pytest.raises(ValueError):
        ModelKeys(bad)
