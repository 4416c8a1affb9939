"""Admin endpoints: switch the served version over HTTP, as ``ctr models promote|shadow`` does by hand.

Mounted only when authentication is on (``CTR_API_KEYS_FILE``), and each needs a key with the ``admin``
scope: a server without keys has no admin endpoints at all (404). They work on this server's own
registry — its model directory (``CTR_MODEL_DIR``) or its Redis model (``CTR_REDIS_MODEL``) — through
the same functions as the command (``app.versions.registry``): a version is checked exactly as a
server checks it before the pointer moves, and the switch is written to the history with
``by = "api:<key id>"``. The answer comes once *this* server serves the new version (other workers and
replicas follow at their next poll or activation message, as after ``ctr models promote``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app.errors import Conflict, NotFound
from app.http.auth import KEY_ID_SCOPE
from app.http.openapi import JSON, NOT_READY, error_doc, ok
from app.state import ServerState
from app.versions import registry as reg
from app.versions.activation import Activation
from app.versions.source import VersionRefused
from contract.artifact import MANIFEST

VERSION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"  # a version name, never a path
SWITCH_WAIT_SECONDS = 30.0
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_doc("no such version in this server's registry", "not_found", "version"),
    409: error_doc("the version was refused by the server's checks, or this server is pinned", "conflict", "version"),
    422: error_doc("invalid body", "invalid_request", "version"),
    **NOT_READY,
}
_STATUS = {
    "type": "object",
    "properties": {
        "active": {"type": ["string", "null"]},
        "previous": {"type": ["string", "null"], "description": "the version it replaced"},
        "shadow": {"type": ["string", "null"]},
        "serving": {"type": ["string", "null"], "description": "the version this server serves now"},
    },
}

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_PATTERN, description="a version of this server's model")
    reason: str = Field("", max_length=500, description="recorded in the history")


class ShadowBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str | None = Field(pattern=VERSION_PATTERN, description="scored beside the active one; null: none")


def _state(request: Request) -> ServerState:
    return request.app.state.ctr


@asynccontextmanager
async def _registry(state: ServerState) -> AsyncIterator[reg.Registry]:
    """This server's own registry; a server pinned to one version has none to switch."""
    settings = state.settings
    if settings.store == "memory" and (settings.model_version is not None or (settings.model_dir / MANIFEST).is_file()):
        raise Conflict("this server is pinned to one version (CTR_MODEL_VERSION, or CTR_MODEL_DIR names a version "
                       "directory): restart it to serve another", "version")  # fmt: skip
    registry = reg.open_registry(settings, None, settings.store == "redis")
    try:
        yield registry
    except VersionRefused as exc:
        if exc.reason == "missing":
            raise NotFound(str(exc), "version") from exc
        raise Conflict(str(exc), "version") from exc
    finally:
        await registry.close()


def _answer(state: ServerState, **fields: Any) -> Response:
    body = {**fields, "serving": state.model.version if state.model is not None else None}
    return Response(orjson.dumps(body), media_type=JSON)


@router.get("/versions", summary="The versions of this server's model and their state",
            responses={**ok("versions, newest last", {"type": "object"}), 503: NOT_READY[503]})  # fmt: skip
async def versions(request: Request) -> Response:
    state = _state(request)
    async with _registry(state) as registry:
        rows = [row.to_dict() for row in await registry.versions()]
    shadow = state.shadow.version if state.shadow is not None else None
    return _answer(state, versions=rows, shadow=shadow)


@router.post("/promote", summary="Make a version the active one (checked first, as `ctr models promote`)",
             responses={**ok("promoted; `serving` is this server's version once it switched", _STATUS),
                        **ADMIN_ERRORS})  # fmt: skip
async def promote(request: Request, body: PromoteBody) -> Response:
    state = _state(request)
    by = f"api:{request.scope.get(KEY_ID_SCOPE, '?')}"
    async with _registry(state) as registry:
        previous = await reg.promote(registry, body.version, by, body.reason)
    activation: Activation | None = getattr(request.app.state, "activation", None)
    if activation is not None:
        await activation.wait_for_version(body.version, SWITCH_WAIT_SECONDS)
    return _answer(state, active=body.version, previous=previous)


@router.post("/shadow", summary="Score a version beside the active one, or stop (as `ctr models shadow`)",
             responses={**ok("the shadow version now", _STATUS), **ADMIN_ERRORS})  # fmt: skip
async def shadow(request: Request, body: ShadowBody) -> Response:
    state = _state(request)
    async with _registry(state) as registry:
        await reg.shadow(registry, body.version)
    activation: Activation | None = getattr(request.app.state, "activation", None)
    if activation is not None:
        await activation.check()  # load (or drop) it now rather than at the next poll
    return _answer(state, shadow=state.shadow.version if state.shadow is not None else None)
