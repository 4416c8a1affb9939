"""Ranking many candidates for one context: the FM split into a context part and a candidate part.

For a row made of context slots c and candidate slots i, an FM logit splits exactly into::

    logit(c, i) = w0 + lin(c) + pair(c)  +  lin(i) + pair(i)  +  <S_c, S_i>
                  '---- once per request ----'  '------- per candidate -------'

with lin(x) = sum of value * linear weight over x's slots, S_x = sum of value * embedding over x's
slots (a K-vector) and pair(x) = ½(|S_x|² - sum of |value * embedding|²), the FM interaction within
x. The context's rows are gathered and reduced once; each candidate then costs O(K * candidate slots),
and a candidate seen before costs a cache lookup (app.ranking.cache). The arithmetic runs in numpy on
the server: docs/ranking.md gives the measurement behind that choice. app.ranking.rank runs a request.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from app.ranking.cache import CandidateCache
from app.scoring.model import ScoringModel
from contract.field import FieldEncoder
from contract.fm import SideTerms, side_slots, side_terms

__all__ = ["RankPlan", "SideTerms", "plan_for", "rank_logits", "side_terms", "top_indices"]


def rank_logits(bias: float, context: SideTerms, own: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Logits (n,) float64 of candidates with one context (``context`` holds one row).

    ``own`` (n,) is each candidate's lin(i) + pair(i), ``sums`` (n, K) its S_i.
    """
    return bias + context.lin[0] + context.pair[0] + own + sums @ context.sums[0]


def top_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest logits, best first; ties keep request order."""
    k = min(k, len(logits))
    if k < len(logits) // 4:
        # A partial selection beats a full sort when k is small; the slack keeps ties at the cut stable.
        part = np.argpartition(-logits, k - 1)[:k]
        cut = logits[part].min()
        part = np.flatnonzero(logits >= cut)
        return part[np.argsort(-logits[part], kind="stable")][:k]
    return np.argsort(-logits, kind="stable")[:k]


@dataclass(frozen=True)
class RankPlan:
    """How one model's slots split into context and candidate sides (built once per model version)."""

    bias: float
    context_fields: tuple[FieldEncoder, ...]
    candidate_fields: tuple[FieldEncoder, ...]
    context_slots: np.ndarray  # (Mc,) int64 slot indices of context fields
    candidate_slots: np.ndarray  # (Mi,) int64
    side_of: dict[str, str]  # request key -> "context" | "candidate" | "both"
    required_context: tuple[str, ...]
    cache: CandidateCache

    @property
    def candidate_sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.spec.source for f in self.candidate_fields))

    @classmethod
    def build(cls, model: ScoringModel, cache_size: int = 0) -> RankPlan:
        fields = model.encoder.fields
        context = tuple(f for f in fields if f.spec.side == "context")
        candidate = tuple(f for f in fields if f.spec.side == "candidate")
        side_of: dict[str, str] = {}
        for f in fields:
            known = side_of.setdefault(f.spec.source, f.spec.side)
            if known != f.spec.side:
                side_of[f.spec.source] = "both"
        candidate_slots = side_slots(candidate)
        return cls(
            bias=model.bias,
            context_fields=context,
            candidate_fields=candidate,
            context_slots=side_slots(context),
            candidate_slots=candidate_slots,
            side_of=side_of,
            required_context=tuple(dict.fromkeys(f.spec.source for f in context if f.spec.required)),
            cache=CandidateCache(cache_size, len(candidate_slots), model.embedding_dim),
        )

    def merge(self, context: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Full rows (n, M, ...) from one context row (Mc, ...) and candidate rows (n, Mi, ...)."""
        width = len(self.context_slots) + len(self.candidate_slots)
        out = np.empty((candidates.shape[0], width, *candidates.shape[2:]), candidates.dtype)
        out[:, self.context_slots] = context
        out[:, self.candidate_slots] = candidates
        return out


_PLANS: weakref.WeakKeyDictionary[ScoringModel, RankPlan] = weakref.WeakKeyDictionary()


def plan_for(model: ScoringModel, cache_size: int) -> RankPlan:
    """The model's plan (and candidate cache), built on first use and dropped with the model, so a
    model swap never mixes versions."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = RankPlan.build(model, cache_size)
    return plan
