from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def artifact_path(tiny_trained):
    """A version directory of a small FM trained on tests/fixtures/tiny.csv."""
    return tiny_trained[1]


@pytest.fixture(scope="module")
def sample_records(tiny_prepared):
    from training.pipeline import raw_records

    return raw_records(tiny_prepared, tiny_prepared.split.test[:20])
