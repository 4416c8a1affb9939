"""Manifest checks of a version read from Redis (the real-Redis refusals are in test_redis_failures.py)."""

import json

import pytest

from app.versions.redis_source import _parse_manifest
from app.versions.source import VersionRefused

GOOD = {
    "format": 1, "shards": 4, "width": 5, "features": 10,
    "probe": {"features": ["00000000000000ff"], "sha256": "ab"},
    "sha256": {"onnx": "cd", "oov": "ef", "artifact_manifest": "01"},
    "artifact": {"name": "m"},
}  # fmt: skip


def test_a_good_manifest_is_accepted():
    assert _parse_manifest("v", json.dumps(GOOD).encode())["shards"] == 4


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "corrupt"),
        (b"[]", "corrupt"),
        (json.dumps({**GOOD, "format": 2}).encode(), "incompatible"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "probe"}).encode(), "corrupt"),
        (json.dumps({**GOOD, "shards": 0}).encode(), "corrupt"),
        (json.dumps({**GOOD, "shards": "many"}).encode(), "corrupt"),
        (json.dumps({**GOOD, "probe": {"features": ["xyz"], "sha256": "ab"}}).encode(), "corrupt"),
        (json.dumps({**GOOD, "sha256": {"onnx": 1, "oov": "ef"}}).encode(), "corrupt"),
        (json.dumps({**GOOD, "artifact": []}).encode(), "corrupt"),
    ],
)
def test_a_bad_manifest_is_refused_with_its_reason(raw, reason):
    with pytest.raises(VersionRefused) as info:
        _parse_manifest("v", raw)
    assert info.value.reason == reason and info.value.version == "v"
