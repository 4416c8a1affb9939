"""The rank benchmark's forms ask for the same scores (the id form included), and its report renders."""

import argparse
import json

import pytest

from load_tests.rank_bench import FORMS, goals, markdown, measure


@pytest.mark.slow
def test_a_short_run_measures_every_form_with_equal_scores(tiny_catalog_artifact):
    args = argparse.Namespace(
        model_dir=tiny_catalog_artifact, store="memory", env=[], shapes="1,20", catalogue=5000, seconds=0.2, rounds=1,
        warmup=0.05, connections=2, distinct=2, seed=0, server_core=None, client_core=None,
    )  # fmt: skip
    result = measure(args, {})
    for shape in result["shapes"]:
        assert set(FORMS) <= set(shape)
        assert max(shape["max_abs_diff_vs_flat_records"].values()) <= 1e-6, shape["max_abs_diff_vs_flat_records"]
        assert shape["body_bytes"]["rank_ids"] < shape["body_bytes"]["rank"]
        for form in FORMS:
            assert shape[form]["connections_2"]["errors"] == 0 and shape[form]["connections_1"]["requests"] > 0
    report = {"command": "x", "store": "memory", "setup": {"throughput_connections": 2},
              "machine": {"before": result["machine_before"], "after": result["machine_after"], "note": ""},
              "goals_1x1000": goals(result["shapes"], 2), "shapes": result["shapes"]}  # fmt: skip
    text = markdown(json.loads(json.dumps(report)))
    assert "| rank_ids |" in text and "| flat_columns |" in text


def test_an_artifact_without_a_catalog_is_refused_with_a_reason(artifact_path):
    from load_tests.rank_bench import catalogue_items

    with pytest.raises(SystemExit, match="no candidate catalog"):
        catalogue_items(artifact_path, 10)
