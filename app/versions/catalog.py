"""A model version's candidate catalog on the activation path: load it with the version, swap new generations.

The activation path calls two functions (docs/ranking.md, "Freshness"):

* :func:`with_catalog` (:func:`attach_catalog`) in a source's ``load``, before the version is installed: the version's
  current generation is read from where the version lives (``model.catalog_source``: its directory,
  or its Redis namespace), verified (every sha256, the model version, the shapes) and attached to
  the model object, so version and catalog swap in as one. A broken catalog refuses the version.
* :func:`refresh_catalog` on every activation signal that names the version already served: if the
  version's catalog pointer names another generation (``ctr catalog build`` / ``ctr catalog
  publish``), it is loaded and verified off to the side and swapped in with one assignment
  (``model.catalog = new``); a request holds the catalog it started with. A generation that fails its
  checks is refused once (logged, ``ctr_catalog_loads_total{result="refused"}``) and the current one
  keeps serving.
"""

from __future__ import annotations

import logging
import weakref

from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.versions.source import VersionRefused
from contract.catalog import Catalog, CatalogError

log = logging.getLogger("app")

_REFUSED: weakref.WeakKeyDictionary[ScoringModel, str] = weakref.WeakKeyDictionary()  # last refused generation


async def load_catalog(model: ScoringModel) -> Catalog | None:
    """The verified current catalog of ``model``'s version, or None when it has none (raises CatalogError)."""
    source = model.catalog_source
    if source is None:
        return None
    generation = await source.generation()
    return None if generation is None else await source.load(generation, model)


async def attach_catalog(model: ScoringModel, metrics: Metrics) -> None:
    """Load the version's catalog onto the (not yet installed) model; CatalogError refuses the version."""
    try:
        model.catalog = await load_catalog(model)
    except CatalogError:
        metrics.catalog_loads.labels("refused").inc()
        raise
    if model.catalog is not None:
        metrics.catalog_loads.labels("loaded").inc()
        log.info("candidate catalog %s of version %s: %d items", model.catalog.generation, model.version,
                 len(model.catalog))  # fmt: skip


async def with_catalog(model: ScoringModel, metrics: Metrics) -> ScoringModel:
    """``model`` with its version's catalog attached; an unusable catalog refuses the version (a source's ``load``)."""
    try:
        await attach_catalog(model, metrics)
    except CatalogError as exc:
        await model.close()
        raise VersionRefused(model.version, exc.reason, f"its candidate catalog is unusable: {exc}") from exc
    return model


def catalog_installed(model: ScoringModel, metrics: Metrics) -> None:
    """Record the served catalog's size (call when ``model`` is installed or its catalog swapped)."""
    metrics.catalog_items.set(len(model.catalog) if model.catalog is not None else 0)


async def refresh_catalog(model: ScoringModel, metrics: Metrics) -> bool:
    """Swap in the version's current catalog generation if it changed; True when it did.

    Redis being unreachable raises :class:`~app.errors.StoreUnavailable` (the caller's to report);
    a generation that cannot be used is refused and the current catalog kept.
    """
    source = model.catalog_source
    if source is None:
        return False
    generation = await source.generation()
    serving = model.catalog.generation if model.catalog is not None else None
    if generation is None or generation == serving or generation == _REFUSED.get(model):
        return False  # a removed pointer keeps the catalog served: versions, not pointers, retire catalogs
    try:
        catalog = await source.load(generation, model)
    except CatalogError as exc:
        _REFUSED[model] = generation
        metrics.catalog_loads.labels("refused").inc()
        log.error("catalog %s of version %s refused (%s); keeping %s", generation, model.version, exc, serving)
        return False
    model.catalog = catalog  # the swap: requests in flight keep the catalog they read
    metrics.catalog_loads.labels("loaded").inc()
    catalog_installed(model, metrics)
    log.info("candidate catalog of version %s: %s -> %s (%d items)", model.version, serving, generation, len(catalog))
    return True
