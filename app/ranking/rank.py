"""One /v1/rank request: cache lookup, encode what is new, one store gather, the split FM.

1. The context is validated and encoded once.
2. Each candidate is looked up in the model's candidate cache; hits bring their terms along.
3. Only the misses are validated and encoded (off the event loop when there are many).
4. One ``store.gather`` fetches the context's rows and the misses' rows (one round trip for Redis).
5. The context's terms are reduced once, the misses' terms per candidate (then cached), and every
   logit is ``w0 + lin(c) + pair(c) + own(i) + <S_c, S_i>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from app.ranking.plan import RankPlan, rank_logits, side_terms
from app.ranking.request import RankRequest, encode_candidates, encode_context
from app.scoring.model import ScoringModel
from contract.fm import sigmoid


@dataclass(frozen=True)
class Ranked:
    """Scores of a ranking request, plus the encoded sides an explanation needs."""

    logits: np.ndarray  # (n,) float64
    probabilities: np.ndarray  # (n,) float32: what /v1/score gives the merged records, within 1e-6
    context_ids: np.ndarray  # (Mc,)
    context_values: np.ndarray  # (Mc,)
    candidate_ids: np.ndarray  # (n, Mi)
    candidate_values: np.ndarray  # (n, Mi)
    cache_hits: int


async def rank(
    model: ScoringModel, plan: RankPlan, request: RankRequest, offload_candidates: int, keep_encoded: bool = False
) -> Ranked:
    """Score every candidate of ``request`` against its context.

    ``keep_encoded`` also returns every candidate's ids and values (for explanations); without it
    they are returned for the candidates that were not in the cache only.
    """
    context_ids, context_values = encode_context(request, plan, model.fast_encoder)
    n, cache = request.n_candidates, plan.cache
    m_c, m_i = len(context_ids), len(plan.candidate_slots)
    entries = cache.lookup(request.candidates)
    own, sums, ids, values = cache.copy(entries, keep_encoded)  # before any await; misses are filled below
    misses = np.flatnonzero(entries < 0)
    gather_ids = context_ids[None, :]
    if len(misses):
        missed = [request.candidates[i] for i in misses] if len(misses) < n else request.candidates
        if len(misses) >= offload_candidates:
            batch = await run_in_threadpool(encode_candidates, missed, misses, plan, model.encoder)
        else:
            batch = encode_candidates(missed, misses, plan, model.fast_encoder)
        ids[misses], values[misses] = batch.ids, batch.values
        gather_ids = np.concatenate([context_ids, batch.ids.reshape(-1)])[None, :]  # (1, Mc + misses*Mi)
    rows = (await model.store.gather(gather_ids))[0]
    context = side_terms(rows[None, :m_c], context_values[None])
    if len(misses):
        terms = side_terms(rows[m_c:].reshape(len(misses), m_i, -1), batch.values)
        own[misses] = terms.lin + terms.pair
        sums[misses] = terms.sums
        cache.insert(missed, batch.ids, batch.values, own[misses], terms.sums)
    logits = rank_logits(plan.bias, context, own, sums)
    return Ranked(logits, sigmoid(logits).astype(np.float32), context_ids, context_values, ids, values,
                  n - len(misses))  # fmt: skip
