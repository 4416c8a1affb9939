"""One /v1/rank request: catalog and cache lookups, encode what is new, one store gather, the split FM.

1. The context is validated and encoded once.
2. Candidate ids are looked up in the model version's candidate catalog (``contract.catalog``): a
   found id brings its precomputed terms; an unknown one is scored as ``{<id field>: id}`` or skipped.
3. Candidate objects are looked up in the model's candidate cache; hits bring their terms along.
4. Only the cache misses are validated and encoded (off the event loop when there are many).
5. One ``store.gather`` fetches the context's rows, the misses' and the unknown ids' (one round
   trip for Redis). A request of catalog ids fetches the context's rows only.
6. The context's terms are reduced once, the new candidates' terms per candidate (misses are then
   cached), and every logit is ``w0 + lin(c) + pair(c) + own(i) + <S_c, S_i>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from app.ranking.plan import RankPlan, rank_logits, side_terms
from app.ranking.request import RankRequest, encode_candidates, encode_context, encode_unknown_ids, locate_ids
from app.scoring.model import ScoringModel
from contract.catalog import Catalog
from contract.encoding import EncodedBatch
from contract.fm import row_terms, sigmoid

_NO_POSITIONS = np.empty(0, np.int64)


@dataclass(frozen=True)
class Ranked:
    """Scores of a ranking request, plus the encoded sides an explanation needs."""

    logits: np.ndarray  # (n,) float64; NaN for a skipped unknown id
    probabilities: np.ndarray  # (n,) float32: what /v1/score gives the merged records, within 1e-6
    context_ids: np.ndarray  # (Mc,)
    context_values: np.ndarray  # (Mc,)
    candidate_ids: np.ndarray | None  # (n, Mi), with keep_encoded only
    candidate_values: np.ndarray | None  # (n, Mi)
    cache_hits: int
    unknown: np.ndarray  # positions (into the n candidates) of ids the catalog does not hold
    skipped: bool  # the unknown ids were not scored ("unknown_ids": "skip")
    catalog_rows: np.ndarray  # (n_ids,) catalog row of each id, -1 when unknown
    catalog: Catalog | None  # the catalog generation the ids were scored with


@dataclass
class _Side:
    """Terms of a block of candidates, filled as they are found, encoded and reduced."""

    own: np.ndarray  # (n,) float64: lin(i) + pair(i)
    sums: np.ndarray  # (n, K) float64: S_i
    ids: np.ndarray | None  # (n, Mi), with keep_encoded only
    values: np.ndarray | None


async def rank(
    model: ScoringModel, plan: RankPlan, request: RankRequest, offload_candidates: int, keep_encoded: bool = False
) -> Ranked:
    """Score every candidate of ``request`` against its context.

    ``keep_encoded`` also returns every candidate's ids and values (for explanations).
    """
    context_ids, context_values = encode_context(request, plan, model.fast_encoder)
    catalog = model.catalog  # read once: a catalog swapped in meanwhile serves the next request
    n_ids = len(request.candidate_ids)
    rows = locate_ids(request, catalog, model.version) if n_ids else _NO_POSITIONS
    unknown = np.flatnonzero(rows < 0)
    by_id = _catalog_side(catalog, rows, unknown, keep_encoded) if n_ids else None
    new: list[tuple[_Side, np.ndarray, EncodedBatch]] = []  # (block, its positions, encoded) still to reduce
    objects, hits = None, 0
    if request.candidates:
        entries = plan.cache.lookup(request.candidates)
        objects = _Side(*plan.cache.copy(entries, keep_encoded))  # before any await; misses are filled below
        misses = np.flatnonzero(entries < 0)
        hits = len(request.candidates) - len(misses)
        if len(misses):
            missed = [request.candidates[i] for i in misses] if hits else request.candidates
            if len(misses) >= offload_candidates:
                batch = await run_in_threadpool(encode_candidates, missed, misses + n_ids, plan, model.encoder)
            else:
                batch = encode_candidates(missed, misses + n_ids, plan, model.fast_encoder)
            new.append((objects, misses, batch))
    if len(unknown) and not request.skip_unknown:
        assert catalog is not None and by_id is not None
        raw = [request.candidate_ids[i] for i in unknown.tolist()]
        new.append((by_id, unknown, encode_unknown_ids(raw, catalog, plan, model.encoder)))
    gather_ids = np.concatenate([context_ids, *(b.ids.reshape(-1) for _, _, b in new)]) if new else context_ids
    gathered = (await model.store.gather(gather_ids[None]))[0]
    m_c, m_i = len(context_ids), len(plan.candidate_slots)
    context = row_terms(gathered[:m_c], context_values)
    at = m_c
    for block, positions, batch in new:
        terms = side_terms(gathered[at : at + len(positions) * m_i].reshape(len(positions), m_i, -1), batch.values)
        at += len(positions) * m_i
        block.own[positions], block.sums[positions] = terms.lin + terms.pair, terms.sums
        if block.ids is not None and block.values is not None:
            block.ids[positions], block.values[positions] = batch.ids, batch.values
        if block is objects:
            plan.cache.insert(missed, batch.ids, batch.values, block.own[positions], terms.sums)
    side = _join(by_id, objects)
    logits = rank_logits(plan.bias, context, side.own, side.sums)
    if len(unknown) and request.skip_unknown:
        logits[unknown] = np.nan
    return Ranked(logits, sigmoid(logits).astype(np.float32), context_ids, context_values,
                  side.ids if keep_encoded else None, side.values if keep_encoded else None, hits, unknown,
                  request.skip_unknown, rows, catalog)  # fmt: skip


def _catalog_side(catalog: Catalog | None, rows: np.ndarray, unknown: np.ndarray, keep_encoded: bool) -> _Side:
    """Terms of the catalog ids (copies: a catalog swap must not change a request in flight)."""
    assert catalog is not None
    found = rows if not len(unknown) else np.where(rows < 0, 0, rows)  # unknown rows are overwritten or skipped
    own, sums = catalog.own.take(found), catalog.sums.take(found, axis=0)
    if not keep_encoded:
        return _Side(own, sums, None, None)
    return _Side(own, sums, catalog.ids.take(found, axis=0), catalog.values.take(found, axis=0))


def _join(by_id: _Side | None, objects: _Side | None) -> _Side:
    """The ids' block then the objects' block, as one (no copy when there is only one)."""
    if objects is None:
        assert by_id is not None
        return by_id
    if by_id is None:
        return objects
    ids = values = None
    if by_id.ids is not None and objects.ids is not None and by_id.values is not None and objects.values is not None:
        ids, values = np.concatenate([by_id.ids, objects.ids]), np.concatenate([by_id.values, objects.values])
    return _Side(np.concatenate([by_id.own, objects.own]), np.concatenate([by_id.sums, objects.sums]), ids, values)
