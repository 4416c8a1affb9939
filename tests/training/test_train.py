"""The training loop with augmentations: metrics log, phases, L2 on padded rows, and the CLI flags."""

import json

import numpy as np
import pytest
import torch

from cli import main
from tests.conftest import TINY_DATA, TINY_SCHEMA
from training.augment import pad_slots
from training.config import TrainConfig
from training.model import FactorizationMachine
from training.tensors import Tensors
from training.train import batch_objective, train


@pytest.mark.parametrize("augment", ["copy", "mixfm", "smfm"])
def test_augmented_training_logs_every_epoch(tiny_prepared, tmp_path, augment):
    config = TrainConfig(dim=4, epochs=2, batch_size=64, lr=0.01, augment=augment, candidates=3, patience=5)
    log = tmp_path / "metrics.jsonl"
    result = train(config, tiny_prepared.train, tiny_prepared.validation, tiny_prepared.encoder.num_features, log,
                   progress=False)  # fmt: skip
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    n = len(tiny_prepared.train)
    for r in records:
        assert r["rows"] == 2 * n
        assert r["augment_seconds"] > 0 and r["forward_seconds"] > 0 and r["backward_seconds"] > 0
        assert 0.0 <= r["val_auc"] <= 1.0  # a number, not NaN
    # Serving is unchanged: the trained model still scores rows of M slots.
    assert result.model(tiny_prepared.test.ids, tiny_prepared.test.values).shape == (len(tiny_prepared.test),)


def test_l2_ignores_padding_and_scales_with_the_value():
    torch.manual_seed(0)
    model = FactorizationMachine(10, 3, init_std=0.5)
    data = Tensors(torch.tensor([[1, 4], [2, 7]]), torch.tensor([[1.0, 1.0], [1.0, 0.5]]), torch.tensor([1.0, 0.0]))
    _, plain = batch_objective(model, data.ids, data.values, data.labels, 0.1)
    padded = pad_slots(data)
    _, with_padding = batch_objective(model, padded.ids, padded.values, padded.labels, 0.1)
    torch.testing.assert_close(with_padding, plain)
    w = model.table.weight.detach()
    penalty = (w[1] ** 2).sum() + (w[4] ** 2).sum() + (w[2] ** 2).sum() + 0.25 * (w[7] ** 2).sum()
    loss, _ = batch_objective(model, data.ids, data.values, data.labels, 0.0)
    torch.testing.assert_close(plain.detach(), loss + 0.1 * penalty / 2)


def test_ctr_train_applies_the_flags_it_is_given(tmp_path, capsys):
    """Every flag must reach the trainer: the manifest's config, the epoch log and the tables show it (16.11)."""
    code = main([
        "train", "--dataset", str(TINY_SCHEMA), "--data", str(TINY_DATA), "--augment", "smfm", "--candidates", "2",
        "--mix-alpha", "1.0", "--mix-ratio", "0.5", "--saliency", "abs", "--no-merge", "--epochs", "2", "--dim", "4",
        "--lr", "0.02", "--batch-size", "64", "--l2", "0.001", "--seed", "7", "--patience", "9", "--quiet",
        "--out", str(tmp_path), "--name", "flags",
    ])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    version = tmp_path / "flags" / summary["artifact"].rsplit("/", 1)[1]
    config = json.loads((version / "manifest.json").read_text())["training"]
    assert {k: config[k] for k in ("augment", "candidates", "mix_alpha", "mix_ratio", "saliency", "mix_merge", "dim",
                                   "lr", "batch_size", "l2", "seed", "patience", "epochs")} == {
        "augment": "smfm", "candidates": 2, "mix_alpha": 1.0, "mix_ratio": 0.5, "saliency": "abs", "mix_merge": False,
        "dim": 4, "lr": 0.02, "batch_size": 64, "l2": 0.001, "seed": 7, "patience": 9, "epochs": 2,
    }  # fmt: skip
    epochs = [json.loads(line) for line in (version / "metrics.jsonl").read_text().splitlines()]
    train_rows = summary["split"]["rows"]["train"]
    assert summary["epochs_run"] == len(epochs) == 2  # --epochs 2 with --patience 9: both epochs ran
    assert [e["rows"] for e in epochs] == [train_rows + int(train_rows * 0.5)] * 2  # originals + ratio 0.5 mixes
    assert np.load(version / "embedding.npy").shape[1] == 4  # --dim


def test_ctr_train_refuses_a_bad_mix_setting(capsys):
    assert main(["train", "--dataset", str(TINY_SCHEMA), "--data", str(TINY_DATA), "--mix-alpha", "0"]) == 2
    assert "mix_alpha" in capsys.readouterr().err
