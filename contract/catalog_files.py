"""A catalog generation as files: inside its model version directory, with sha256s, written atomically.

::

    models/<name>/<version>/catalog/
        CURRENT                     text: the generation servers use (replaced by an atomic rename)
        <generation>/
            catalog.json            manifest, written last: model version, id field, shapes, sha256 of each file
            keys.json               each item's canonical id, in row order
            items.jsonl             each item's candidate fields, one JSON object per line
            own.npy  sums.npy       (n,) and (n, K) float64: lin(i) + pair(i), and S_i
            ids.npy  values.npy     (n, Mi) int64 and float32: the encoded candidate slots

A generation is written as ``.incomplete-<generation>`` and renamed into place, then ``CURRENT`` is
replaced: a reader sees the old generation or the new one, never half of one. The version's own
``manifest.json`` does not list these files, so a catalog can be rebuilt (``ctr catalog build``)
without retraining or touching the version's checksums. The same files, as bytes, are what
``ctr publish`` / ``ctr catalog publish`` copy into Redis (``app.stores.catalog``), with ``ids.npy``
turned into the hashed id space; :func:`catalog_from_blobs` reads both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from contract.artifact import _write_synced
from contract.catalog import Catalog, CatalogData, CatalogError, candidate_fields, key_field
from contract.encoding import FeatureEncoder
from contract.fm import side_slots

FORMAT = 1
CATALOG_DIR = "catalog"
CURRENT = "CURRENT"
MANIFEST = "catalog.json"
ARRAYS = ("own", "sums", "ids", "values")
FILES = ("keys.json", "items.jsonl", *(f"{a}.npy" for a in ARRAYS))
KEEP = 3  # generations kept on disk (and the current one): a server may still be loading the previous one


def new_generation() -> str:
    """A generation id that sorts by creation time, to the microsecond: ``20261203T140019.123456Z-3fa2b1``.

    (Version ids have whole seconds; two catalog builds of one version may well fall in the same second.)
    """
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


def catalog_blobs(data: CatalogData) -> dict[str, bytes]:
    """The files of a catalog, as bytes (``.npy`` files: self-describing, never pickled)."""
    blobs = {"keys.json": json.dumps(data.keys, ensure_ascii=False).encode(), "items.jsonl": data.items}
    for name in ARRAYS:
        buffer = io.BytesIO()
        np.save(buffer, getattr(data, name), allow_pickle=False)
        blobs[f"{name}.npy"] = buffer.getvalue()
    return blobs


def catalog_manifest(
    blobs: Mapping[str, bytes], data: CatalogData, *, model: Mapping[str, Any], key: str, source: Any
) -> dict[str, Any]:
    """The manifest of a new generation of ``data`` for ``model`` (``{"name", "version"}``)."""
    n = len(data.keys)
    return {
        "format": FORMAT,
        "generation": new_generation(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {"name": str(model["name"]), "version": str(model["version"])},
        "key_field": key,
        "id_space": "vocabulary",
        "items": n,
        "embedding_dim": int(data.sums.shape[1]),
        "candidate_slots": int(data.ids.shape[1]),
        "array_bytes_per_item": sum(getattr(data, a).nbytes for a in ARRAYS) // max(n, 1),
        "source": source,
        "files": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
    }


def write_catalog(
    version_dir: str | Path, data: CatalogData, *, key: str, source: Any, activate: bool = True, keep: int = KEEP
) -> str:
    """Write ``data`` as a new generation of the version at ``version_dir``; returns the generation id."""
    version_dir = Path(version_dir)
    artifact_manifest = json.loads((version_dir / "manifest.json").read_text())
    blobs = catalog_blobs(data)
    manifest = catalog_manifest(blobs, data, model=artifact_manifest, key=key, source=source)
    root = version_dir / CATALOG_DIR
    generation = manifest["generation"]
    tmp = root / f".incomplete-{generation}"
    tmp.mkdir(parents=True)
    try:
        for name, blob in blobs.items():
            (tmp / name).write_bytes(blob)
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        os.rename(tmp, root / generation)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if activate:
        set_current(version_dir, generation)
    _collect(root, keep)
    return generation


def set_current(version_dir: str | Path, generation: str) -> None:
    """Atomically point the version's ``catalog/CURRENT`` at a complete generation."""
    root = Path(version_dir) / CATALOG_DIR
    if not (root / generation / MANIFEST).is_file():
        raise CatalogError(f"{root / generation} is not a complete catalog generation")
    tmp = root / f".{CURRENT}.{secrets.token_hex(4)}"
    _write_synced(tmp, f"{generation}\n".encode())
    os.replace(tmp, root / CURRENT)


def current_generation(version_dir: str | Path) -> str | None:
    """The generation ``catalog/CURRENT`` names, or None when the version has no catalog."""
    pointer = Path(version_dir) / CATALOG_DIR / CURRENT
    try:
        return pointer.read_text().strip() or None
    except FileNotFoundError:
        return None


def read_blobs(version_dir: str | Path, generation: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and files of one generation, unverified (see :func:`catalog_from_blobs`)."""
    folder = Path(version_dir) / CATALOG_DIR / generation
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        return manifest, {name: (folder / name).read_bytes() for name in FILES}
    except (OSError, ValueError) as exc:
        reason = "incomplete" if isinstance(exc, FileNotFoundError) else "corrupt"
        raise CatalogError(f"catalog {folder}: unreadable ({exc})", reason) from exc


def load_catalog_dir(version_dir: str | Path, model: ModelIdentity) -> Catalog | None:
    """The current catalog of a version directory, verified; None when the version has none."""
    generation = current_generation(version_dir)
    if generation is None:
        return None
    return catalog_from_blobs(*read_blobs(version_dir, generation), model)


class ModelIdentity(Protocol):
    """What a catalog is checked against: the loaded model version (``app.scoring.model.ScoringModel``)."""

    version: str
    encoder: FeatureEncoder
    embedding_dim: int


def catalog_from_blobs(manifest: Mapping[str, Any], blobs: Mapping[str, bytes], model: ModelIdentity) -> Catalog:
    """A :class:`Catalog` from its files, after checking every sha256, the model version and the shapes."""
    encoder, model_version = model.encoder, model.version
    generation = str(manifest.get("generation"))
    where = f"catalog {generation}"
    try:
        if manifest["format"] != FORMAT:
            raise CatalogError(f"{where}: unsupported format {manifest['format']!r}")
        if manifest["model"]["version"] != model_version:
            raise CatalogError(
                f"{where} was built for model version {manifest['model']['version']}, not {model_version}"
            )
        if manifest["id_space"] != ("hashed" if encoder.hashed else "vocabulary"):
            raise CatalogError(f"{where}: ids are in the {manifest['id_space']} id space, the model's are not")
        for name in FILES:
            if hashlib.sha256(blobs[name]).hexdigest() != manifest["files"][name]:
                raise CatalogError(f"{where}: {name} does not match the sha256 in its manifest")
        arrays = {a: np.load(io.BytesIO(blobs[f"{a}.npy"]), allow_pickle=False) for a in ARRAYS}
        keys = json.loads(blobs["keys.json"])
        id_field = key_field(encoder, manifest["key_field"])
    except CatalogError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{where}: unusable ({exc!r})") from exc
    n, slots = len(keys), len(side_slots(candidate_fields(encoder)))
    expected = {"own": (n,), "sums": (n, model.embedding_dim), "ids": (n, slots), "values": (n, slots)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise CatalogError(f"{where}: {name} has shape {arrays[name].shape}, expected {shape}")
    data = CatalogData(keys, blobs["items.jsonl"], arrays["ids"], arrays["values"], arrays["own"], arrays["sums"])
    try:
        return Catalog(data, id_field, generation=generation, model_version=model_version, manifest=manifest)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from exc


def to_hashed(
    manifest: Mapping[str, Any], blobs: Mapping[str, bytes], encoder: FeatureEncoder
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The same generation with ``ids.npy`` in the hashed id space of a shared store (``encoder``: vocabulary)."""
    ids = np.load(io.BytesIO(blobs["ids.npy"]), allow_pickle=False)
    buffer = io.BytesIO()
    np.save(buffer, encoder.feature_hashes()[ids], allow_pickle=False)
    hashed = {**blobs, "ids.npy": buffer.getvalue()}
    files = {**manifest["files"], "ids.npy": hashlib.sha256(hashed["ids.npy"]).hexdigest()}
    return {**manifest, "id_space": "hashed", "files": files}, hashed


def _collect(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` generations; never the current one."""
    current = current_generation(root.parent)
    done = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith("."))
    for folder in done[: max(0, len(done) - keep)]:
        if folder.name != current:
            shutil.rmtree(folder, ignore_errors=True)
