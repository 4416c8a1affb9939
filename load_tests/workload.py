"""Request bodies for load tests, generated from a model's own feature layout (any schema).

Values are drawn from the artifact's vocabularies and bucket ranges, with a share of unseen values so
the OOV path is exercised too. Seeded, so two runs (or two stores) send byte-identical requests.
Candidates are either fresh random objects or drawn from a fixed catalogue (an item always has the
same fields), which is what a recommender sends and what a candidate cache sees.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from contract.encoding import FeatureEncoder
from contract.field import FieldEncoder


@dataclass
class Workload:
    """Draws raw context fields, candidate fields and flat records for ``encoder``'s schema."""

    encoder: FeatureEncoder
    seed: int = 0
    unseen_share: float = 0.05

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def side(self, side: str) -> dict[str, Any]:
        """One object with a value for every request key whose fields are on ``side``."""
        out: dict[str, Any] = {}
        for field in self.encoder.fields:
            if field.spec.side == side and field.spec.source not in out:
                out[field.spec.source] = self.value(field)
        return out

    def context(self) -> dict[str, Any]:
        return self.side("context")

    def candidates(self, n: int) -> list[dict[str, Any]]:
        return [self.side("candidate") for _ in range(n)]

    def rank_body(self, n: int, catalogue: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One context and ``n`` candidates: fresh ones, or ``n`` distinct items of a ``catalogue``."""
        candidates = self.candidates(n) if catalogue is None else self.rng.sample(catalogue, n)
        return {"context": self.context(), "candidates": candidates}

    def catalogue(self, size: int) -> list[dict[str, Any]]:
        """``size`` items with fixed candidate fields, as a recommender ranks them again and again."""
        return self.candidates(size)

    @staticmethod
    def flat_records(rank_body: dict[str, Any]) -> list[dict[str, Any]]:
        """The same scoring work as ``rank_body`` sent the generic way: context repeated per candidate."""
        return [{**rank_body["context"], **candidate} for candidate in rank_body["candidates"]]

    @staticmethod
    def flat_columns(rank_body: dict[str, Any]) -> dict[str, list[Any]]:
        records = Workload.flat_records(rank_body)
        keys = dict.fromkeys(key for r in records for key in r)  # a field some records lack is None (missing) there
        return {key: [r.get(key) for r in records] for key in keys}

    def value(self, field: FieldEncoder) -> Any:
        spec, rng = field.spec, self.rng
        if spec.kind == "numeric":
            bounds = field.boundaries
            lo, hi = (float(bounds[0]), float(bounds[-1])) if len(bounds) else (0.0, 1.0)
            span = max(hi - lo, 1.0)
            return round(rng.uniform(lo - 0.1 * span, hi + 0.1 * span), 2)
        if spec.kind == "multi_categorical":
            return [self._category(field) for _ in range(rng.randint(1, spec.max_length))]
        return self._category(field)

    def _category(self, field: FieldEncoder) -> Any:
        rng, spec = self.rng, field.spec
        if not field.vocabulary or rng.random() < self.unseen_share:
            value = str(10**9 + rng.randrange(10**6)) if spec.dtype == "int" else f"unseen-{rng.randrange(10**6)}"
        else:
            value = rng.choice(field.vocabulary)
            if spec.transform and spec.transform.startswith("prefix:"):
                value += "".join(rng.choice("0123456789") for _ in range(3))  # a raw value with that prefix
        return int(value) if spec.dtype == "int" else value
