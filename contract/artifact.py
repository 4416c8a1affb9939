"""The model artifact: a directory of plain files, written atomically, verified on load.

::

    models/<name>/
        ACTIVE                      # text file: the version servers load by default (and watch)
        HISTORY.jsonl               # one line per activation: at, version, previous, by, reason
        <version>/
            manifest.json           # version, created_at, dataset, split, metrics, feature layout, sha256s
            model.onnx              # scorer: (rows[B,M,K+1], values[B,M]) -> probability[B], logit[B]
            linear.npy              # (V,)   float32 linear weight per feature
            embedding.npy           # (V, K) float32 embedding per feature
            vocab.json              # {field: [value of local id 1, 2, ...]}
            metrics.jsonl           # the training log, one JSON object per epoch

A version directory is first written as ``.incomplete-<version>`` and renamed into place once every
file and the manifest (written last) are on disk, so a crash never leaves a half-written version
that a loader could pick. ``ACTIVE`` is replaced with an atomic rename too. Nothing is pickled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contract.encoding import FeatureEncoder

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ACTIVE = "ACTIVE"
HISTORY = "HISTORY.jsonl"
SHADOW = "SHADOW"  # text file: a version scored beside the active one, for comparison (ctr models shadow)
ONNX_FILE = "model.onnx"
LINEAR_FILE = "linear.npy"
EMBEDDING_FILE = "embedding.npy"
VOCAB_FILE = "vocab.json"
# Names of the exported scorer's inputs and outputs; the server feeds these.
ONNX_INPUTS = ("rows", "values")
ONNX_OUTPUTS = ("probability", "logit")


REASONS = ("missing", "incomplete", "corrupt", "incompatible")


class ArtifactError(RuntimeError):
    """An artifact is missing, incomplete, or does not match its manifest.

    ``reason`` is one of :data:`REASONS`, the same words a server uses when it refuses a version.
    """

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Artifact:
    """A loaded model version. ``table`` fuses the linear weight (column 0) and the embedding."""

    path: Path
    manifest: dict[str, Any]
    encoder: FeatureEncoder
    table: np.ndarray  # (V, K + 1) float32
    bias: float

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE

    @property
    def embedding_dim(self) -> int:
        return int(self.table.shape[1] - 1)


def new_version() -> str:
    """A sortable, unique version id: UTC time + random suffix, e.g. ``20261129T120501Z-3fa2b1``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(3)}"


def write_artifact(
    root: str | Path,
    name: str,
    *,
    encoder: FeatureEncoder,
    linear: np.ndarray,
    embedding: np.ndarray,
    bias: float,
    onnx_model: bytes,
    manifest_extra: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
    activate: bool = True,
    version: str | None = None,
) -> Path:
    """Write a complete version under ``root/name/`` and (by default) make it the active one.

    ``manifest_extra`` adds keys such as ``dataset``, ``split``, ``metrics`` and ``training``.
    Returns the version directory.
    """
    linear = np.ascontiguousarray(linear, dtype=np.float32)
    embedding = np.ascontiguousarray(embedding, dtype=np.float32)
    if linear.shape != (encoder.num_features,) or embedding.shape[0] != encoder.num_features:
        raise ArtifactError(f"tables {linear.shape}/{embedding.shape} do not match {encoder.num_features} features")
    version = version or new_version()
    model_dir = Path(root) / name
    final = model_dir / version
    if final.exists():
        raise ArtifactError(f"{final} already exists")
    tmp = model_dir / f".incomplete-{version}"
    tmp.mkdir(parents=True)
    try:
        files = {
            ONNX_FILE: onnx_model,
            VOCAB_FILE: json.dumps(encoder.vocabularies(), ensure_ascii=False).encode(),
            **(extra_files or {}),
        }
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
        np.save(tmp / LINEAR_FILE, linear, allow_pickle=False)
        np.save(tmp / EMBEDDING_FILE, embedding, allow_pickle=False)
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **manifest_extra,
            "model": {
                "kind": "fm",
                "bias": float(bias),
                "embedding_dim": int(embedding.shape[1]),
                "num_features": encoder.num_features,
                "num_slots": encoder.num_slots,
                "onnx_inputs": list(ONNX_INPUTS),
                "onnx_outputs": list(ONNX_OUTPUTS),
            },
            "features": encoder.to_layout(),
            "files": {p.name: _sha256(p) for p in sorted(tmp.iterdir())},
        }
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if activate:
        set_active(model_dir, version)
    return final


def set_active(model_dir: str | Path, version: str, by: str = "train", reason: str = "") -> str | None:
    """Atomically point ``model_dir/ACTIVE`` at a complete version; returns the version it replaced.

    Every activation is appended to ``HISTORY.jsonl`` (``contract.registry`` reads it, e.g. for a
    rollback) after the pointer moved: the pointer is the truth, the history its log.
    """
    model_dir = Path(model_dir)
    if not (model_dir / version / MANIFEST).is_file():
        raise ArtifactError(f"{model_dir / version} is not a complete version", "missing")
    active = model_dir / ACTIVE
    previous = active.read_text().strip() or None if active.is_file() else None
    tmp = model_dir / f".{ACTIVE}.{secrets.token_hex(4)}"
    _write_synced(tmp, f"{version}\n".encode())
    os.replace(tmp, active)
    line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "version": version, "previous": previous,
            "by": by, "reason": reason}  # fmt: skip
    with (model_dir / HISTORY).open("ab") as fh:
        fh.write(json.dumps(line).encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return previous


def resolve_artifact(path: str | Path, version: str | None = None) -> Path:
    """Find the version directory to load.

    ``path`` is a version directory (holding ``manifest.json``) or a model directory; in the latter
    case ``version`` wins, then the ``ACTIVE`` pointer, then the newest complete version.
    """
    path = Path(path)
    if (path / MANIFEST).is_file() and version is None:
        return path
    if not path.is_dir():
        raise ArtifactError(f"model directory {path} does not exist (train one with `ctr train`)", "missing")
    if version is None and (path / ACTIVE).is_file():
        version = (path / ACTIVE).read_text().strip()
    if version is not None:
        if not (path / version / MANIFEST).is_file():
            reason = "incomplete" if (path / version).is_dir() else "missing"
            raise ArtifactError(f"version {version!r} not found or incomplete under {path}", reason)
        return path / version
    versions = sorted(p for p in path.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith("."))
    if not versions:
        raise ArtifactError(f"no complete model version under {path} (train one with `ctr train`)", "missing")
    return versions[-1]


def load_artifact(path: str | Path, version: str | None = None, verify: bool = True, index: bool = True) -> Artifact:
    """Load a version (see :func:`resolve_artifact`), checking every file against its sha256.

    ``index=False`` leaves the encoder's value -> id dicts to be built on first use (``FeatureEncoder.from_layout``).
    """
    version_dir = resolve_artifact(path, version)
    try:
        manifest = json.loads((version_dir / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{version_dir / MANIFEST}: unreadable manifest ({exc})") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{version_dir}: unsupported format_version {manifest.get('format_version')!r}", "incompatible"
        )
    if verify:
        for file_name, expected in manifest["files"].items():
            file = version_dir / file_name
            if not file.is_file():
                raise ArtifactError(f"{file} is missing", "incomplete")
            if _sha256(file) != expected:
                raise ArtifactError(f"{file} does not match the sha256 in its manifest")
    try:  # unverified (verify=False) or hand-edited files must still fail as an ArtifactError
        vocab = json.loads((version_dir / VOCAB_FILE).read_text())
        encoder = FeatureEncoder.from_layout(manifest["features"], vocab, index)
        linear = np.load(version_dir / LINEAR_FILE, allow_pickle=False)
        embedding = np.load(version_dir / EMBEDDING_FILE, allow_pickle=False)
        table = np.ascontiguousarray(np.concatenate([linear[:, None], embedding], axis=1), dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{version_dir}: unreadable tables or layout ({exc})") from exc
    if table.shape[0] != encoder.num_features:
        raise ArtifactError(f"{version_dir}: tables have {table.shape[0]} rows, layout {encoder.num_features}")
    return Artifact(
        path=version_dir, manifest=manifest, encoder=encoder, table=table, bias=float(manifest["model"]["bias"])
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
