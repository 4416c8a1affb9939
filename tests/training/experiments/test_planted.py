"""The planted-interaction generator: the pairs it plants really never co-occur in training."""

import numpy as np
import torch

from contract.metrics import auc
from training.experiments.planted import PlantedConfig, generate, never_co_occurring

SMALL = PlantedConfig(users=40, items=40, train_rows=5_000, eval_rows=2_000)


def test_cross_group_pairs_never_co_occur_in_training():
    data = generate(SMALL)
    assert never_co_occurring(data) == 1.0
    users, items = data.train.ids[:, 0].numpy(), data.train.ids[:, 1].numpy() - SMALL.users
    assert np.all(users * SMALL.groups // SMALL.users == items * SMALL.groups // SMALL.items)  # in-group only
    assert 0.4 < data.test_cross.mean() < 0.6


def test_generator_is_deterministic_and_labels_follow_the_truth():
    a, b = generate(SMALL), generate(SMALL)
    assert torch.equal(a.train.ids, b.train.ids) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.train.ids, generate(PlantedConfig(**{**SMALL.to_dict(), "seed": 1})).train.ids)
    # The true probabilities rank the sampled clicks far better than chance.
    assert auc(a.test.labels.numpy(), a.test_probability) > 0.75
