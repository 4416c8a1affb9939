import numpy as np
import pytest

from contract.schema import SplitSpec
from tests.training.data.conftest import tiny_variant
from training.data import DataError, split_spec
from training.data.split import TEST, TRAIN, VALIDATION, given_split, plan_split


def test_random_split_is_seeded_and_sized():
    spec = SplitSpec("random", (0.5, 0.3, 0.2), seed=4)
    a, b = plan_split(100, spec), plan_split(100, spec)
    assert (len(a.train), len(a.validation), len(a.test)) == (50, 30, 20)
    assert np.array_equal(a.train, b.train)
    assert not np.array_equal(a.train, plan_split(100, SplitSpec("random", (0.5, 0.3, 0.2), seed=5)).train)
    assert sorted(np.concatenate([a.train, a.validation, a.test]).tolist()) == list(range(100))
    assert a.describe() == {"method": "random", "seed": 4, "rows": {"train": 50, "validation": 30, "test": 20},
                            "sizes": [0.5, 0.3, 0.2]}  # fmt: skip


def test_time_split_is_earliest_first_with_ties_in_reading_order():
    stamps = np.array([5, 1, 3, 3, 3, 9, 0, 7, 3, 2], dtype=float)
    split = plan_split(10, SplitSpec("time", (0.6, 0.2, 0.2)), stamps)
    assert split.train.tolist() == [6, 1, 9, 2, 3, 4]
    assert split.validation.tolist() == [8, 0] and split.test.tolist() == [7, 5]
    assert split.seed is None


def test_assignment_matches_the_indices():
    split = plan_split(20, SplitSpec("random", (0.6, 0.2, 0.2), seed=1))
    codes = split.assignment()
    assert np.flatnonzero(codes == TRAIN).tolist() == sorted(split.train.tolist())
    assert np.flatnonzero(codes == VALIDATION).tolist() == sorted(split.validation.tolist())
    assert np.flatnonzero(codes == TEST).tolist() == sorted(split.test.tolist())


def test_given_split_is_contiguous_and_records_files():
    split = given_split({"train": 3, "validation": 2, "test": 1}, {"train": "a", "validation": "b", "test": "c"})
    assert split.train.tolist() == [0, 1, 2] and split.validation.tolist() == [3, 4] and split.test.tolist() == [5]
    assert split.describe()["files"] == {"train": "a", "validation": "b", "test": "c"}


def test_empty_splits_are_errors():
    with pytest.raises(DataError, match=r"the validation split is empty \(4 rows with a label, sizes"):
        plan_split(4, SplitSpec("random", (0.8, 0.1, 0.1)))
    with pytest.raises(DataError, match="the test split is empty: c has no rows with a label"):
        given_split({"train": 3, "validation": 2, "test": 0}, {"train": "a", "validation": "b", "test": "c"})


def test_overrides():
    schema = tiny_variant()
    spec = split_spec(schema, "random", 7, (0.5, 0.25, 0.25))
    assert (spec.method, spec.seed, spec.sizes) == ("random", 7, (0.5, 0.25, 0.25))
    assert split_spec(schema) == schema.split
    with pytest.raises(DataError, match="--split-sizes: need three positive fractions summing to 1"):
        split_spec(schema, sizes=(0.5, 0.5, 0.5))
    with pytest.raises(DataError, match="a time split needs a timestamp column; schema 'tiny' declares none"):
        split_spec(tiny_variant(timestamp=None, split={"method": "random"}), "time")
