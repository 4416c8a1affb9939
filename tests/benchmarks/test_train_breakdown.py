"""The training cost breakdown (benchmarks/train_breakdown.py) accounts for the whole epoch."""

import pytest

from benchmarks.train_breakdown import REPORT_PHASES, main, measure
from training.config import TrainConfig


def tiny_breakdown(tiny_prepared, augment: str) -> dict:
    config = TrainConfig(dim=4, epochs=3, batch_size=64, augment=augment, candidates=3, threads=1)
    return measure(config, tiny_prepared.train, tiny_prepared.validation, tiny_prepared.encoder.num_features)


@pytest.mark.parametrize("augment", ["none", "copy", "mixfm", "smfm"])
def test_phases_sum_to_the_measured_epoch(tiny_prepared, augment):
    result = tiny_breakdown(tiny_prepared, augment)
    phases = result["phases"]
    assert set(phases) == set(REPORT_PHASES)
    measured = sum(v for p, v in phases.items() if p != "other")
    # "other" is the epoch's wall time outside every phase: loop overhead only, never a missed phase.
    assert measured == pytest.approx(result["epoch_seconds"], rel=0.05, abs=0.001)
    assert phases["other"] >= -1e-6  # the phases never add up to more than the wall time
    for phase in ("data", "forward", "backward", "step", "metric", "eval"):
        assert phases[phase] > 0, phase


def test_smfm_pays_for_saliency_and_plain_fm_for_no_augmentation(tiny_prepared):
    smfm = tiny_breakdown(tiny_prepared, "smfm")["phases"]
    assert smfm["saliency"] > 0 and smfm["mix"] > 0
    fm = tiny_breakdown(tiny_prepared, "none")["phases"]
    assert fm["saliency"] == 0 and fm["mix"] == 0


def test_cli_has_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "--before" in capsys.readouterr().out
