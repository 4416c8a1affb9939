"""The split FM arithmetic of app.ranking.plan against the plain FM (contract.fm), without HTTP."""

import numpy as np
import pytest

from app.ranking.plan import RankPlan, rank_logits, side_terms, top_indices
from contract.fm import fm_logit


@pytest.mark.parametrize("seed", range(5))
def test_split_logits_equal_the_fm_on_merged_rows(seed):
    rng = np.random.default_rng(seed)
    n, m, k = 7, 9, 5
    context_slots = np.sort(rng.choice(m, size=4, replace=False))
    candidate_slots = np.setdiff1d(np.arange(m), context_slots)
    context_rows = rng.normal(0, 0.5, (len(context_slots), k + 1)).astype(np.float32)
    context_values = rng.uniform(-1, 2, len(context_slots)).astype(np.float32)
    candidate_rows = rng.normal(0, 0.5, (n, len(candidate_slots), k + 1)).astype(np.float32)
    candidate_values = rng.uniform(-1, 2, (n, len(candidate_slots))).astype(np.float32)
    candidate_values[:, -1] = 0.0  # padding slot

    merged_rows = np.empty((n, m, k + 1), np.float32)
    merged_rows[:, context_slots] = context_rows
    merged_rows[:, candidate_slots] = candidate_rows
    merged_values = np.empty((n, m), np.float32)
    merged_values[:, context_slots] = context_values
    merged_values[:, candidate_slots] = candidate_values

    context = side_terms(context_rows[None], context_values[None])
    candidates = side_terms(candidate_rows, candidate_values)
    got = rank_logits(0.25, context, candidates.lin + candidates.pair, candidates.sums)
    np.testing.assert_allclose(got, fm_logit(merged_rows, merged_values, 0.25), rtol=0, atol=1e-10)


def test_side_terms_of_one_slot_have_no_interaction():
    rows = np.array([[[0.5, 1.0, 2.0]]], np.float32)
    terms = side_terms(rows, np.array([[3.0]], np.float32))
    assert terms.pair[0] == 0.0
    assert terms.lin[0] == pytest.approx(1.5)
    np.testing.assert_allclose(terms.sums[0], [3.0, 6.0])


def test_top_indices_best_first_ties_in_request_order():
    logits = np.array([0.1, 0.9, 0.5, 0.9, -2.0, 0.5])
    assert top_indices(logits, 3).tolist() == [1, 3, 2]
    assert top_indices(logits, 100).tolist() == [1, 3, 2, 5, 0, 4]


@pytest.mark.parametrize("k", [1, 2, 5, 30, 300, 1000])
def test_top_indices_partial_selection_equals_a_full_stable_sort(k):
    rng = np.random.default_rng(k)
    logits = rng.integers(0, 40, 1000).astype(np.float64)  # many ties
    expected = np.argsort(-logits, kind="stable")[:k]
    np.testing.assert_array_equal(top_indices(logits, k), expected)


def test_plan_splits_interleaved_slots_by_side(interleaved_artifact):
    from app.scoring.model import ScoringModel
    from app.settings import Settings

    model = ScoringModel.load(Settings(model_dir=interleaved_artifact))
    plan = RankPlan.build(model)
    # item(1) user(1) genres(4) history(3) hour(1) brand(1)
    assert plan.context_slots.tolist() == [1, 6, 7, 8, 9]
    assert plan.candidate_slots.tolist() == [0, 2, 3, 4, 5, 10]
    assert plan.side_of == {"item": "candidate", "user": "context", "genres": "candidate", "history": "context",
                            "hour": "context", "brand": "candidate"}  # fmt: skip
    assert plan.required_context == ("user",)
    merged = plan.merge(np.array([10, 60, 70, 80, 90]), np.array([[0, 20, 30, 40, 50, 100]]))
    assert merged.tolist() == [[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]]


def test_row_terms_are_side_terms_of_one_row():
    from contract.fm import row_terms

    rng = np.random.default_rng(4)
    rows, values = rng.normal(size=(5, 7)).astype(np.float32), rng.uniform(-1, 2, 5).astype(np.float32)
    one, batch = row_terms(rows, values), side_terms(rows[None], values[None])
    for name in ("lin", "pair", "sums"):
        np.testing.assert_allclose(getattr(one, name), getattr(batch, name), rtol=0, atol=1e-12)
    empty = row_terms(np.zeros((0, 7), np.float32), np.zeros(0, np.float32))  # a schema without context fields
    assert empty.lin.tolist() == [0.0] and empty.pair.tolist() == [0.0] and empty.sums.shape == (1, 6)
