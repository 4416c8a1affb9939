"""Export a trained FM: ONNX scorer + tables + vocabulary as a versioned artifact.

The ONNX graph scores rows gathered by the caller (``rows[B, M, K+1]``, ``values[B, M]``), so the
server may fetch embeddings from memory or Redis. Export fails loudly unless onnxruntime reproduces
PyTorch's probabilities on the given rows within ``tolerance``.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contract.artifact import ONNX_INPUTS, ONNX_OUTPUTS, write_artifact
from contract.encoding import EncodedBatch, FeatureEncoder
from contract.score_buckets import bucket_counts
from training.model import FactorizationMachine, Scorer
from training.tensors import Tensors
from training.train import predict

PARITY_TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """The exported scorer is invalid or disagrees with PyTorch."""


def export_onnx(bias: float, num_slots: int, dim: int) -> bytes:
    """The scorer as a checked ONNX model with a dynamic batch dimension."""
    import onnx

    scorer = Scorer(bias).eval()
    example = (torch.zeros(2, num_slots, dim + 1), torch.zeros(2, num_slots))
    batch = torch.export.Dim("batch", min=1)
    # The exporter chats on stdout, warns about unrelated optional packages (torchvision), and its graph
    # optimisers log every pass at INFO (one line each in a job's JSON log): hush them all.
    exporter_logs = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [log.level for log in exporter_logs]
    for log in exporter_logs:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                scorer,
                example,
                input_names=list(ONNX_INPUTS),
                output_names=list(ONNX_OUTPUTS),
                dynamic_shapes=({0: batch}, {0: batch}),
                dynamo=True,
                verbose=False,
            )
    finally:
        for log, level in zip(exporter_logs, levels, strict=True):
            log.setLevel(level)
    proto = program.model_proto
    proto.producer_name = "ctr-fm"
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def parity(onnx_model: bytes, model: FactorizationMachine, data: Tensors, chunk: int = 8192) -> float:
    """Max |p_onnx - p_torch| over ``data``, gathering rows from the model's table as the server does."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    table = model.table.weight.detach().numpy()
    ids, values = data.ids.numpy(), data.values.numpy()
    onnx_p = np.concatenate(
        [
            session.run([ONNX_OUTPUTS[0]], {"rows": table[ids[s : s + chunk]], "values": values[s : s + chunk]})[0]
            for s in range(0, len(ids), chunk)
        ]
    )
    return float(np.max(np.abs(onnx_p.astype(np.float64) - predict(model, data)))) if len(ids) else 0.0


def reference_stats(model: FactorizationMachine, encoder: FeatureEncoder, data: Tensors) -> dict[str, Any]:
    """What serving traffic is compared with for drift: the model's scores on ``data`` in the served
    histogram's log-odds buckets (``contract.score_buckets``), and each field's OOV rate."""
    with torch.no_grad():
        logits = model(data.ids, data.values).numpy().astype(np.float32)
    oov = encoder.oov_counts(EncodedBatch(data.ids.numpy(), data.values.numpy()))
    return {
        "rows": len(data),
        "score_buckets": bucket_counts(logits).tolist(),
        "oov_rate": {f.spec.name: count / len(data) for f, count in zip(encoder.fields, oov, strict=True)},
    }


def export_artifact(
    model: FactorizationMachine,
    encoder: FeatureEncoder,
    out_dir: str | Path,
    name: str,
    check_rows: Tensors,
    manifest_extra: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
    activate: bool = True,
    reference_rows: Tensors | None = None,
) -> Path:
    """Export, verify parity on ``check_rows`` and write the artifact; returns the version directory.

    ``reference_rows`` (the validation split) are summarised in the manifest as the drift reference
    the server compares its traffic with (:func:`reference_stats`).
    """
    bias = float(model.bias.detach())
    onnx_model = export_onnx(bias, encoder.num_slots, model.dim)
    diff = parity(onnx_model, model, check_rows)
    if not diff <= PARITY_TOLERANCE:
        raise ExportError(f"ONNX and PyTorch probabilities differ by {diff:.3g} (> {PARITY_TOLERANCE})")
    table = model.table.weight.detach().numpy()
    extra = dict(manifest_extra)
    extra["export"] = {"parity_max_abs_diff": diff, "parity_rows": len(check_rows), "tolerance": PARITY_TOLERANCE}
    if reference_rows is not None and len(reference_rows):
        extra["reference"] = reference_stats(model, encoder, reference_rows)
    return write_artifact(
        out_dir,
        name,
        encoder=encoder,
        linear=table[:, 0],
        embedding=table[:, 1:],
        bias=bias,
        onnx_model=onnx_model,
        manifest_extra=extra,
        extra_files=extra_files,
        activate=activate,
    )
