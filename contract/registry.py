"""A model directory as a registry: its versions, the active one, and the history of activations.

What ``ctr models list|show|promote|rollback`` and the nightly job read and write for a local
directory (``app.stores.registry`` is the same for Redis). Switching is :func:`contract.artifact.set_active`:
one atomic rename of ``ACTIVE``, logged to ``HISTORY.jsonl``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.artifact import ACTIVE, HISTORY, MANIFEST, SHADOW, ArtifactError

INCOMPLETE_PREFIX = ".incomplete-"


@dataclass(frozen=True)
class VersionInfo:
    """One version directory: ``state`` is active, previous (the one a rollback returns to), inactive or incomplete."""

    version: str
    state: str
    created_at: str | None
    metrics: dict[str, Any]
    path: Path


def active_version(model_dir: str | Path) -> str | None:
    path = Path(model_dir) / ACTIVE
    return (path.read_text().strip() or None) if path.is_file() else None


def shadow_version(model_dir: str | Path) -> str | None:
    path = Path(model_dir) / SHADOW
    return (path.read_text().strip() or None) if path.is_file() else None


def set_shadow(model_dir: str | Path, version: str | None) -> None:
    """Point ``SHADOW`` at a complete version (atomically), or remove it (``None``)."""
    path = Path(model_dir) / SHADOW
    if version is None:
        path.unlink(missing_ok=True)
        return
    if not (Path(model_dir) / version / MANIFEST).is_file():
        raise ArtifactError(f"{Path(model_dir) / version} is not a complete version", "missing")
    tmp = path.with_name(f".{SHADOW}.{os.getpid()}")
    tmp.write_text(f"{version}\n")
    os.replace(tmp, path)


def history(model_dir: str | Path) -> list[dict[str, Any]]:
    """Activations, oldest first; a torn last line (a crash mid-append) is skipped."""
    path = Path(model_dir) / HISTORY
    if not path.is_file():
        return []
    lines = []
    for text in path.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return lines


def previous_version(model_dir: str | Path) -> str | None:
    """The version that was active before the current one (what a rollback switches to)."""
    current = active_version(model_dir)
    for line in reversed(history(model_dir)):
        if line.get("version") == current:
            return line.get("previous")
    return None


def versions(model_dir: str | Path) -> list[VersionInfo]:
    """Every version directory, oldest first, with its state and headline metrics."""
    root = Path(model_dir)
    if not root.is_dir():
        return []
    active, previous = active_version(root), previous_version(root)
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if path.name.startswith(INCOMPLETE_PREFIX):
            out.append(VersionInfo(path.name.removeprefix(INCOMPLETE_PREFIX), "incomplete", None, {}, path))
            continue
        if path.name.startswith(".") or not (path / MANIFEST).is_file():
            continue
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError):
            out.append(VersionInfo(path.name, "incomplete", None, {}, path))
            continue
        state = "active" if path.name == active else "previous" if path.name == previous else "inactive"
        out.append(VersionInfo(path.name, state, manifest.get("created_at"), headline_metrics(manifest), path))
    return out


def headline_metrics(manifest: dict[str, Any]) -> dict[str, Any]:
    """Test AUC / log loss / ECE of the training run, and the holdout AUC if the nightly job measured one."""
    metrics = manifest.get("metrics") or {}
    test = metrics.get("test") or {}
    out = {k: test[k] for k in ("auc", "logloss", "ece") if k in test}
    holdout = (manifest.get("retrain") or {}).get("holdout") or {}
    out |= {f"holdout_{k}": holdout[k] for k in ("auc", "logloss", "ece") if k in holdout}
    return out
