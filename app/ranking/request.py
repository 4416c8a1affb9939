"""The /v1/rank request body: parsed with orjson, validated by hand against the model's field sides.

::

    {"context": {"user_id": 196, "age": 49},
     "candidates": [{"item_id": 242, "genres": ["Comedy"]}, {"item_id": 51}],
     "top_k": 10, "explain": false}

A field belongs to the side its schema entry declares (``side = "context" | "candidate"``, shown by
GET /v1/model). A field on the wrong side, in both, unknown, or required and missing is a 422 naming
it; the detail says where (``context`` or ``candidates[3]``). Candidates are validated when they are
encoded, which a candidate found in the cache (app.ranking.cache) no longer needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import InvalidRequest
from app.ranking.plan import RankPlan
from app.scoring.request import load_object
from contract.encoding import EncodedBatch
from contract.memo import Encoder
from contract.values import EncodingError

RANK_KEYS = frozenset({"context", "candidates", "top_k", "explain"})


@dataclass(frozen=True)
class RankRequest:
    context: dict[str, Any]
    candidates: list[Any]
    top_k: int | None
    explain: bool

    @property
    def n_candidates(self) -> int:
        return len(self.candidates)


def parse_rank_request(body: bytes, plan: RankPlan, max_candidates: int) -> RankRequest:
    """Check the body's shape and the context's fields; candidates are checked as they are encoded."""
    data = load_object(body, RANK_KEYS, "context, candidates, top_k, explain")
    context, candidates = data.get("context", {}), data.get("candidates")
    if not isinstance(context, dict):
        raise InvalidRequest("must be an object of context fields", "context")
    if not isinstance(candidates, list):
        raise InvalidRequest("must be a list of objects (one per candidate)", "candidates")
    if not candidates:
        raise InvalidRequest("must not be empty", "candidates")
    if len(candidates) > max_candidates:
        raise InvalidRequest(
            f"has {len(candidates)} candidates, more than the limit of {max_candidates} (CTR_MAX_CANDIDATES)",
            "candidates",
        )
    top_k = data.get("top_k")
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise InvalidRequest("must be a positive integer", "top_k")
    explain = data.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidRequest("must be true or false", "explain")
    _check_context(context, candidates, plan)
    return RankRequest(context, candidates, top_k, explain)


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
    columns = {key: [value] for key, value in request.context.items()}
    try:
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
