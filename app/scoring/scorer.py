"""The onnxruntime side of a model: its session, built with the server's options, and what a run returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort


@dataclass(frozen=True)
class Scores:
    probabilities: np.ndarray  # (B,) float32
    logits: np.ndarray  # (B,) float32


def onnx_session(onnx_model: bytes | Path, intra_threads: int) -> ort.InferenceSession:
    """An onnxruntime session on the CPU, sequential, fully optimised, with ``intra_threads`` threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = str(onnx_model) if isinstance(onnx_model, Path) else onnx_model
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
