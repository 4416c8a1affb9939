"""The context-field generator (issue 22): deterministic, and shaped so two-slot mixes duplicate contexts, not ids."""

import numpy as np
import torch

from contract.metrics import auc
from training.experiments.context import ContextConfig, generate, shared_fraction

SMALL = ContextConfig(users=200, items=300, train_rows=6_000, validation_rows=1_000, test_rows=2_000)


def test_generator_is_deterministic_per_seed():
    a, b = generate(SMALL), generate(SMALL)
    assert torch.equal(a.train.ids, b.train.ids) and torch.equal(a.test.labels, b.test.labels)
    np.testing.assert_array_equal(a.test_probability, b.test_probability)
    other = generate(ContextConfig(**{**SMALL.to_dict(), "seed": 1}))
    assert not torch.equal(a.train.ids, other.train.ids)


def test_rows_share_contexts_but_not_ids():
    data = generate(SMALL)
    ids_shared = [shared_fraction(data, f) for f in (0, 1)]
    contexts_shared = [shared_fraction(data, f) for f in range(2, 2 + len(SMALL.contexts))]
    assert max(ids_shared) < 0.02
    assert min(contexts_shared) > 0.3 and sum(contexts_shared) > 4  # most of ten context fields match
    # Every field's ids stay in its own range, one slot per field, all one-hot.
    offsets = np.cumsum([0, *data.sizes[:-1]])
    ids = data.train.ids.numpy() - offsets
    assert np.all(ids >= 0) and np.all(ids < np.array(data.sizes))
    assert torch.equal(data.train.values, torch.ones_like(data.train.values))


def test_context_strength_changes_only_the_labels_and_their_signal():
    weak = generate(ContextConfig(**{**SMALL.to_dict(), "context_std": 0.02}))
    strong = generate(ContextConfig(**{**SMALL.to_dict(), "context_std": 0.2}))
    assert torch.equal(weak.train.ids, strong.train.ids)  # same rows: only the truth's context embeddings differ
    assert not torch.equal(weak.train.labels, strong.train.labels)
    for data in (weak, strong):  # the true probabilities rank the sampled clicks far better than chance
        assert auc(data.test.labels.numpy(), data.test_probability) > 0.7
