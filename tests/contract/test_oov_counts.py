"""FeatureEncoder.oov_counts: the per-field counts of what oov_fields lists, with and without numpy."""

from __future__ import annotations

from contract.artifact import load_artifact


def test_oov_counts_match_oov_fields_including_multi_valued_fields(artifact_path, sample_records):
    encoder = load_artifact(artifact_path).encoder
    assert any(f.spec.slots > 1 for f in encoder.fields), "the tiny schema has a multi-valued field"
    records = [dict(r) for r in sample_records]
    records[0]["user"] = 10**9
    records[1]["tags"] = ["never-seen", "nor-this"]
    records[2]["tags"] = []
    records[3].pop("device", None)
    batch = encoder.encode_records(records)
    listed = encoder.oov_fields(batch)
    names = [f.spec.name for f in encoder.fields]
    counts = encoder.oov_counts(batch)  # the whole-batch numpy path
    assert counts == [sum(name in row for row in listed) for name in names]
    assert counts[names.index("user")] >= 1 and counts[names.index("tags")] >= 1
    for record, fields in zip(records, listed, strict=True):  # the one-row path
        assert encoder.oov_counts(encoder.encode_records([record])) == [int(name in fields) for name in names]
