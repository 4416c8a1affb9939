"""The same FM served the straightforward way: FastAPI + pydantic + PyTorch + a dict lookup per field.

NOT PART OF THE PRODUCT: a baseline for ``load_tests/bench.py`` ("ours / naive torch"). It is what
a first version of this server would look like, written plainly rather than as a strawman:

* at start-up the artifact's fused table is loaded once into torch tensors (linear weight, embedding),
  the FM module is built once, and ``torch.set_num_threads(1)`` (the server has one core);
* per request: FastAPI parses the body into a pydantic model (``records`` only), each record is
  encoded in Python (``dict.get`` in the field's vocabulary, ``bisect`` for numeric buckets, mean
  weights for multi-valued fields), a tensor is built, the FM runs under ``torch.no_grad()``, and
  the probabilities go back as a dict that FastAPI serialises (stdlib ``json``).

The encoding follows the artifact's layout so the probabilities equal ours (the benchmark checks
that on real bodies); validation is only what pydantic and the code need (no 422 per field).
Needs torch (the [train] extra). ``CTR_MODEL_DIR`` names the artifact.
"""

from __future__ import annotations

import bisect
import os
from typing import Any

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from contract.artifact import load_artifact
from contract.field import FieldEncoder


class ScoreBody(BaseModel):
    records: list[dict[str, Any]]


class TorchFM(torch.nn.Module):
    """logit = w0 + Σ w·x + ½ Σ_k [(Σ x·v)² − Σ (x·v)²], over the artifact's fused table."""

    def __init__(self, table: torch.Tensor, bias: float) -> None:
        super().__init__()
        self.linear = torch.nn.Embedding.from_pretrained(table[:, :1].clone())
        self.embedding = torch.nn.Embedding.from_pretrained(table[:, 1:].clone())
        self.bias = bias

    def forward(self, ids: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        x = values.unsqueeze(-1)  # (B, M, 1)
        linear = (self.linear(ids) * x).sum(dim=(1, 2))  # (B,)
        xv = self.embedding(ids) * x  # (B, M, K)
        pairwise = 0.5 * (xv.sum(dim=1).pow(2) - xv.pow(2).sum(dim=1)).sum(dim=1)  # (B,)
        return torch.sigmoid(self.bias + linear + pairwise)


def canonical(field: FieldEncoder, value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(int(value)) if isinstance(value, float) else str(value)
    if field.spec.transform and field.spec.transform.startswith("prefix:"):
        return text[: int(field.spec.transform.split(":")[1])]
    return text.lower() if field.spec.transform == "lower" else text


def encode_record(fields: list[FieldEncoder], record: dict[str, Any], num_slots: int) -> tuple[list[int], list[float]]:
    """One record -> (feature id per slot, value per slot), as the artifact's layout expects."""
    ids, values = [0] * num_slots, [0.0] * num_slots
    for field in fields:
        spec, s = field.spec, field.slot_start
        for j in range(spec.slots):  # every slot starts as the field's OOV row with value 0
            ids[s + j] = field.oov_id
        raw = record.get(spec.source)
        if spec.kind == "numeric":
            values[s] = 1.0
            if raw is not None:
                ids[s] = field.offset + bisect.bisect_right(field.boundaries.tolist(), float(raw)) + 1
        elif spec.kind == "multi_categorical":
            items = raw.split(spec.separator) if isinstance(raw, str) else (raw or [])
            keys = [k for k in (canonical(field, item) for item in items) if k is not None]
            if not keys:
                values[s] = 1.0
            for j, key in enumerate(keys):
                ids[s + j] = field.ids.get(key, field.oov_id)
                values[s + j] = 1.0 / len(keys) if spec.weighting == "mean" else 1.0
        else:
            key = canonical(field, raw)
            ids[s], values[s] = (field.oov_id if key is None else field.ids.get(key, field.oov_id)), 1.0
    return ids, values


def create_app() -> FastAPI:
    artifact = load_artifact(os.environ.get("CTR_MODEL_DIR", "models/ml100k"), os.environ.get("CTR_MODEL_VERSION"))
    torch.set_num_threads(1)
    model = TorchFM(torch.from_numpy(artifact.table), artifact.bias).eval()
    fields, num_slots = list(artifact.encoder.fields), artifact.encoder.num_slots
    app = FastAPI(title="naive PyTorch baseline (not the product)")

    @app.post("/v1/score")
    def score(body: ScoreBody) -> dict[str, Any]:
        encoded = [encode_record(fields, record, num_slots) for record in body.records]
        ids = torch.tensor([e[0] for e in encoded], dtype=torch.long)
        values = torch.tensor([e[1] for e in encoded], dtype=torch.float32)
        with torch.no_grad():
            probabilities = model(ids, values)
        return {"model_version": artifact.version, "probabilities": probabilities.tolist()}

    @app.get("/readyz")
    def readyz() -> dict[str, bool]:
        return {"ready": True}

    return app
