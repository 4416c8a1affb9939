"""Exact explanations of FM scores: the logit as a sum of a bias, per-field and per-field-pair parts.

For a row with slots s (value x_s, linear weight w_s, embedding v_s) grouped into fields f::

    logit = w0 + sum_f lin_f + sum_{f<g} <S_f, S_g> + sum_f ½(|S_f|² - sum_{s in f} |x_s v_s|²)
    lin_f = sum_{s in f} x_s w_s,      S_f = sum_{s in f} x_s v_s

The last sum is the *within-field* interaction of a multi-valued field (e.g. genres x genres); it is
listed with ``"within_field": true``. Single-slot fields have none (it is identically zero). These
parts are the FM itself regrouped, not an approximation, so they sum to the logit (in float64, to
rounding). ``top_pairs`` names the feature pairs (``user_id=196`` x ``genres=Comedy``) whose
interaction ``x_a x_b <v_a, v_b>`` is largest in magnitude.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.scoring.model import ScoringModel
from contract.field import FieldEncoder
from contract.values import EncodingError

TOP_PAIRS = 5


@dataclass(frozen=True)
class Parts:
    """A batch's explanation as arrays: ``linear`` (B, F), ``pairs`` (B, P), ``top`` slot pairs and values."""

    linear: np.ndarray
    pairs: np.ndarray
    top_slots: np.ndarray  # (B, T, 2) slot indices of the strongest feature pairs
    top_values: np.ndarray  # (B, T)


class Explainer:
    """Per-model layout for explanations: fields' slot ranges and the list of field pairs."""

    def __init__(self, fields: tuple[FieldEncoder, ...], bias: float, top_pairs: int = TOP_PAIRS) -> None:
        self.fields = fields
        self.bias = bias
        self.top_pairs = top_pairs
        self.names = [f.spec.name for f in fields]
        self.starts = np.array([f.slot_start for f in fields], np.intp)  # strictly increasing: schema order
        self.slot_field = np.repeat(np.arange(len(fields)), [f.spec.slots for f in fields])  # (M,)
        pairs = []
        for a, f in enumerate(fields):
            if f.spec.slots > 1:
                pairs.append((a, a))
            pairs.extend((a, b) for b in range(a + 1, len(fields)))
        self.pair_a = np.array([a for a, _ in pairs], np.intp)
        self.pair_b = np.array([b for _, b in pairs], np.intp)
        self.within = self.pair_a == self.pair_b
        self.pair_labels = [
            {"fields": [self.names[a], self.names[b]], "within_field": a == b} for a, b in pairs
        ]  # fmt: skip
        m = len(self.slot_field)
        self.slot_i, self.slot_j = np.triu_indices(m, k=1)

    @classmethod
    def for_model(cls, model: ScoringModel) -> Explainer:
        """The model's explainer, built on first use and dropped with the model."""
        explainer = _EXPLAINERS.get(model)
        if explainer is None:
            explainer = _EXPLAINERS[model] = cls(model.encoder.fields, model.bias)
        return explainer

    def parts(self, rows: np.ndarray, values: np.ndarray) -> Parts:
        """Vectorised parts of rows (B, M, K+1) with values (B, M), in float64."""
        weighted = rows.astype(np.float64) * values.astype(np.float64)[..., None]  # (B, M, K+1)
        linear = np.add.reduceat(weighted[..., 0], self.starts, axis=1)  # (B, F)
        vectors = weighted[..., 1:]  # (B, M, K)
        sums = np.add.reduceat(vectors, self.starts, axis=1)  # (B, F, K)
        gram = np.einsum("bfk,bgk->bfg", sums, sums)  # (B, F, F)
        pairs = gram[:, self.pair_a, self.pair_b]  # (B, P)
        if self.within.any():
            own = np.add.reduceat(np.einsum("bmk,bmk->bm", vectors, vectors), self.starts, axis=1)  # (B, F)
            fields = self.pair_a[self.within]
            pairs[:, self.within] = 0.5 * (pairs[:, self.within] - own[:, fields])
        slot_pairs = np.einsum("bmk,bnk->bmn", vectors, vectors)[:, self.slot_i, self.slot_j]  # (B, Q)
        t = min(self.top_pairs, slot_pairs.shape[1])
        order = np.argsort(-np.abs(slot_pairs), axis=1, kind="stable")[:, :t]  # (B, T)
        top_values = np.take_along_axis(slot_pairs, order, axis=1)
        top_slots = np.stack([self.slot_i[order], self.slot_j[order]], axis=-1)
        return Parts(linear, pairs, top_slots, top_values)

    def explain(
        self,
        ids: np.ndarray,
        rows: np.ndarray,
        values: np.ndarray,
        logits: np.ndarray,
        indices: np.ndarray | None = None,
        records: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """One JSON-able explanation per row; ``indices`` (default 0..B-1) are the rows' request positions.

        ``ids`` are as the store left them (unseen values resolved to their field's OOV id). In the
        hashed id space a categorical id cannot be read back, so features are named from the raw
        ``records`` (one per row) when given.
        """
        parts = self.parts(rows, values)
        probabilities = 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))
        positions = range(len(ids)) if indices is None else indices.tolist()
        out = []
        for b, index in enumerate(positions):
            top = []
            record = records[b] if records is not None else None
            for (s, t), value in zip(parts.top_slots[b].tolist(), parts.top_values[b].tolist(), strict=True):
                if value != 0.0:  # padding slots and zero values interact with nothing
                    top.append({"features": [self.feature(ids[b, s], s, record), self.feature(ids[b, t], t, record)],
                                "contribution": value})  # fmt: skip
            out.append({
                "index": index,
                "logit": float(logits[b]),
                "probability": float(probabilities[b]),
                "bias": self.bias,
                "linear": dict(zip(self.names, parts.linear[b].tolist(), strict=True)),
                "pairs": [
                    {**label, "contribution": value}
                    for label, value in zip(self.pair_labels, parts.pairs[b].tolist(), strict=True)
                ],
                "top_pairs": top,
            })  # fmt: skip
        return out

    def feature(self, feature_id: int, slot: int, record: Mapping[str, Any] | None = None) -> str:
        """``field=value`` of the feature in ``slot`` (the slot says which field, no search needed)."""
        field = self.fields[self.slot_field[slot]]
        feature_id = int(feature_id)
        if field.hashed and record is not None and feature_id != field.oov_id and field.spec.kind != "numeric":
            with suppress(EncodingError, IndexError, TypeError):
                return f"{field.spec.name}={_raw_value(field, record, slot - field.slot_start)}"
        return f"{field.spec.name}={field.feature_label(feature_id)}"


def _raw_value(field: FieldEncoder, record: Mapping[str, Any], position: int) -> str:
    """The canonical raw value behind a slot of a categorical or multi-valued field."""
    raw = record.get(field.spec.source)
    if field.spec.kind != "multi_categorical":
        value = field.canonical(raw)
    elif field.spec.weighting == "given":
        value = (field.weighted_items(raw) or ([], []))[0][position]
    else:
        value = (field.items(raw) or [])[position]
    if value is None:
        raise TypeError("missing")
    return value


_EXPLAINERS: weakref.WeakKeyDictionary[ScoringModel, Explainer] = weakref.WeakKeyDictionary()
