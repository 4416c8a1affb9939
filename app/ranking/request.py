"""The /v1/rank request body: parsed with orjson, validated by hand against the model's field sides.

::

    {"context": {"user_id": 196, "age": 49},
     "candidates": [{"item_id": 242, "genres": ["Comedy"]}, {"item_id": 51}],
     "top_k": 10, "explain": false}
    {"context": {...}, "candidate_ids": [242, 51, 1999], "unknown_ids": "score"}

``candidate_ids`` name items of the model version's candidate catalog (``contract.catalog``); they
may come with ``candidates`` (the ids are candidates 0..n_ids-1, the objects follow). An id the
catalog does not hold is scored as the candidate ``{<id field>: id}`` (``"unknown_ids": "score"``,
the default) or not scored (``"skip"``); either way the answer lists it in ``unknown_indices``.

A field belongs to the side its schema entry declares (``side = "context" | "candidate"``, shown by
GET /v1/model). A field on the wrong side, in both, unknown, or required and missing is a 422 naming
it; the detail says where (``context`` or ``candidates[3]``). Candidates are validated when they are
encoded, which a candidate found in the cache (app.ranking.cache) no longer needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import InvalidRequest
from app.ranking.plan import RankPlan
from app.scoring.request import load_object, whole
from contract.catalog import Catalog
from contract.encoding import EncodedBatch, FeatureEncoder
from contract.fm import side_slots
from contract.memo import Encoder, MemoEncoder
from contract.values import EncodingError

RANK_KEYS = frozenset({"context", "candidates", "candidate_ids", "unknown_ids", "top_k", "explain"})
UNKNOWN_ID_CHOICES = ("score", "skip")


@dataclass(frozen=True)
class RankRequest:
    context: dict[str, Any]
    candidates: list[Any]
    top_k: int | None
    explain: bool
    candidate_ids: list[Any] = field(default_factory=list)  # catalog ids: candidates 0..n_ids-1
    skip_unknown: bool = False  # "unknown_ids": "skip"
    by_id: bool = False  # the body has "candidate_ids" (the answer then has "unknown_indices")

    @property
    def n_candidates(self) -> int:
        return len(self.candidate_ids) + len(self.candidates)


def parse_rank_request(body: bytes, plan: RankPlan, max_candidates: int) -> RankRequest:
    """Check the body's shape and the context's fields; candidates are checked as they are encoded."""
    data = load_object(body, RANK_KEYS, "context, candidates, candidate_ids, unknown_ids, top_k, explain")
    context, candidates, ids = data.get("context", {}), data.get("candidates"), data.get("candidate_ids")
    if not isinstance(context, dict):
        raise InvalidRequest("must be an object of context fields", "context")
    if ids is not None and not isinstance(ids, list):
        raise InvalidRequest("must be a list of candidate ids (strings or integers)", "candidate_ids")
    if not isinstance(candidates, list) and (ids is None or candidates is not None):
        raise InvalidRequest("must be a list of objects (one per candidate)", "candidates")
    candidates, ids = candidates or [], ids or []
    n, counted = len(ids) + len(candidates), "candidate_ids" if "candidate_ids" in data else "candidates"
    if not n:
        raise InvalidRequest("must not be empty", counted)
    if n > max_candidates:
        given = f" ({len(ids)} ids and {len(candidates)} objects)" if ids and candidates else ""
        raise InvalidRequest(
            f"has {n} candidates{given}, more than the limit of {max_candidates} (CTR_MAX_CANDIDATES)", counted
        )
    unknown = data.get("unknown_ids", "score")
    if unknown not in UNKNOWN_ID_CHOICES:
        raise InvalidRequest('must be "score" or "skip"', "unknown_ids")
    top_k = whole(data.get("top_k"))
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise InvalidRequest("must be a positive integer", "top_k")
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidRequest("must be true or false", "explain")
    _check_context(context, candidates, plan)
    return RankRequest(context, candidates, top_k, explain, ids, unknown == "skip", "candidate_ids" in data)


def _check_context(context: dict[str, Any], candidates: list[Any], plan: RankPlan) -> None:
    for key in context:
        side = plan.side_of.get(key)
        if side == "context":
            continue
        if side is None:
            raise InvalidRequest("context: unknown field", key)
        if side == "candidate" and any(isinstance(c, dict) and key in c for c in candidates):
            raise InvalidRequest(f"given in both context and candidates; it is a {side} field", key)
        raise _wrong_side(key, side, "context")
    for key in plan.required_context:
        if context.get(key) is None:
            raise InvalidRequest("context: required field is missing", key)


def check_candidates(candidates: Sequence[Any], positions: np.ndarray, plan: RankPlan) -> None:
    """Every candidate is an object of candidate-side fields; ``positions`` are their request indices."""
    keys: set[str] = set()
    for i, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            raise InvalidRequest(f"candidates[{positions[i]}] must be an object of candidate fields", "candidates")
        keys.update(candidate)  # C speed; each distinct key is judged once below
    side_of = plan.side_of
    for key in keys:
        side = side_of.get(key)
        if side == "candidate":
            continue
        where = f"candidates[{positions[next(i for i, c in enumerate(candidates) if key in c)]}]"
        if side is None:
            raise InvalidRequest(f"{where}: unknown field", key)
        raise _wrong_side(key, side, where)


def _wrong_side(key: str, side: str, where: str) -> InvalidRequest:
    if side == "both":
        return InvalidRequest(f"{where}: feeds fields on both sides, so this model cannot rank; use /v1/score", key)
    home = "the context" if side == "context" else "each candidate"
    return InvalidRequest(f"{where}: is a {side} field; send it in {home}", key)


def encode_context(request: RankRequest, plan: RankPlan, encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    """The context's ids and values on its own slots, (Mc,) each."""
    try:
        if isinstance(encoder, MemoEncoder):
            return encoder.encode_fields(request.context, plan.context_fields)
        columns = {key: [value] for key, value in request.context.items()}
        batch = encoder.encode_columns(columns, 1, plan.context_fields)
    except EncodingError as exc:
        raise InvalidRequest(f"context: {exc.message}", exc.field) from None
    return batch.ids[0, plan.context_slots], batch.values[0, plan.context_slots]


def encode_candidates(
    candidates: Sequence[Any], positions: np.ndarray, plan: RankPlan, encoder: Encoder
) -> EncodedBatch:
    """Validate and encode candidates column-wise on their own slots: ids and values (n, Mi)."""
    check_candidates(candidates, positions, plan)
    columns = {source: [c.get(source) for c in candidates] for source in plan.candidate_sources}
    try:
        batch = encoder.encode_columns(columns, len(candidates), plan.candidate_fields)
    except EncodingError as exc:
        where = "candidates" if exc.row is None else f"candidates[{positions[exc.row]}]"
        raise InvalidRequest(f"{where}: {exc.message}", exc.field) from None
    return EncodedBatch(batch.ids[:, plan.candidate_slots], batch.values[:, plan.candidate_slots])


def locate_ids(request: RankRequest, catalog: Catalog | None, version: str) -> np.ndarray:
    """Catalog row of each of the request's ids (n_ids,), -1 for an id the catalog does not hold."""
    if catalog is None:
        raise InvalidRequest(
            f"model version {version} has no candidate catalog (the schema's candidate_id, `ctr catalog build`); "
            "send candidates instead",
            "candidate_ids",
        )
    try:
        return catalog.locate(request.candidate_ids)
    except EncodingError as exc:
        raise InvalidRequest(f"candidate_ids[{exc.row}]: {exc.message}", "candidate_ids") from None


def encode_unknown_ids(
    raw_ids: Sequence[Any], catalog: Catalog, plan: RankPlan, encoder: FeatureEncoder
) -> EncodedBatch:
    """Candidates known only by their id, on the candidate slots (n, Mi).

    The id's own fields are encoded as usual (an id the model knows keeps its row); every other
    candidate field is what a missing optional field is: its OOV feature with value 1.
    """
    n = len(raw_ids)
    ids, values = encoder.blank(n)
    own = tuple(f for f in plan.candidate_fields if f.spec.source == catalog.source)
    for f in plan.candidate_fields:
        if f.spec.source != catalog.source:
            values[:, f.slot_start] = 1.0
    batch = encoder.encode_columns({catalog.source: list(raw_ids)}, n, own)
    slots = side_slots(own)
    ids[:, slots], values[:, slots] = batch.ids[:, slots], batch.values[:, slots]
    return EncodedBatch(ids[:, plan.candidate_slots], values[:, plan.candidate_slots])
