"""Optional API-key authentication of every request, in front of both ways in (docs/security.md).

Off by default: with ``CTR_API_KEYS_FILE`` unset, :func:`Auth.from_settings` returns None, the gate is
not installed and a request pays nothing. On, :class:`AuthGate` is a pure-ASGI middleware placed in
front of the scoring hot path (``app.http.front``) *and* FastAPI (routes, ``/docs``, the OpenAPI
schema), so one check, :func:`authorize`, decides for every path and the answers cannot differ
between the two ways in. A request carries its key as ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``; the key is matched against the digests of the keys file in constant time
(``app.security.keys``). Without a usable key: 401 with ``WWW-Authenticate: Bearer``; with a key that
lacks the endpoint's scope: 403. Both in the one error body, whose detail names the header and, for
403, the key's id, never the key. Keys are never logged: nothing here logs a header.

The keys file is re-read when it changes (checked every ``CTR_API_KEYS_RELOAD_SECONDS`` by a
background task, off the request path), so a revoked key stops working within about a second,
without a restart. A file that fails to parse at start-up stops the start; at a reload it is logged
and counted, and the previous keys stay in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ApiError, Forbidden, Unauthorized
from app.http.openapi import error_doc
from app.http.responses import render_api_error
from app.metrics import Metrics
from app.security.keys import ApiKey, KeyFile, KeySet, KeysFileError
from app.settings import Settings

log = logging.getLogger("app")

# The scope each path needs; a path not listed (``/v1/model``, ``/openapi.json``, ``/docs``, unknown
# paths) needs a valid key of any scope, so an unauthenticated caller learns nothing, not even which paths exist.
SCOPE_OF = {
    "/v1/score": "score",
    "/v1/rank": "score",
    "/v1/feedback": "feedback",
    "/metrics": "metrics",
}
ADMIN_PREFIX = "/v1/admin/"
KEY_ID_SCOPE = "ctr.api_key_id"  # the ASGI scope entry naming the key a request was let in with (for audit)
UNAUTHORIZED_DOC = error_doc(
    "no API key, or one this server does not hold (unknown or revoked); with `WWW-Authenticate: Bearer`",
    "unauthorized",
    "authorization",
)
HOW = "send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`"


def required_scope(path: str) -> str | None:
    """The scope ``path`` needs, or None for "any valid key"."""
    return SCOPE_OF.get(path) or ("admin" if path.startswith(ADMIN_PREFIX) else None)


def authorize(keys: KeySet, headers: Iterable[tuple[bytes, bytes]], needed: str | None) -> ApiKey:
    """The key a request presents, if it is valid and holds ``needed``; else Unauthorized or Forbidden.

    ``headers`` are the ASGI scope's raw (lower-cased name, value) pairs. The one check of both ways in.
    """
    bearer = api_key = None
    malformed = False
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                bearer = token.strip()
            else:
                malformed = True
        elif name == b"x-api-key":
            api_key = value.strip()
    if bearer is not None and api_key is not None and bearer != api_key:
        raise _rejected("malformed", "two different keys in Authorization and X-API-Key: send one", "authorization")
    presented, header = (bearer, "authorization") if bearer is not None else (api_key, "x-api-key")
    if not presented:
        if malformed:
            raise _rejected("malformed", f"the Authorization header is not `Bearer <key>`: {HOW}", "authorization")
        raise _rejected("missing", f"this endpoint needs an API key: {HOW}", "authorization")
    key = keys.match(presented)
    if key is None:
        raise _rejected("unknown", f"the API key in the {_header_name(header)} header is not valid "
                        "(unknown or revoked)", header)  # fmt: skip
    if needed is not None and needed not in key.scopes:
        raise Forbidden(f"API key {key.id!r} lacks the {needed!r} scope this endpoint needs", header)
    return key


def _header_name(header: str) -> str:
    return "Authorization" if header == "authorization" else "X-API-Key"


def _rejected(reason: str, detail: str, header: str) -> Unauthorized:
    return Unauthorized(detail, header, reason)


class AuthGate:
    """Pure-ASGI middleware: public paths pass; every other HTTP request needs a key allowed there."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = self.auth
        if scope["type"] != "http" or scope["path"] in auth.public:
            await self.app(scope, receive, send)
            return
        try:
            key = authorize(auth.keys, scope["headers"], required_scope(scope["path"]))
        except ApiError as exc:
            await auth.refuse(exc, send)
            return
        scope[KEY_ID_SCOPE] = key.id
        await self.app(scope, receive, send)


class Auth:
    """The keys in force, the public paths, and the reloading of the keys file."""

    def __init__(self, key_file: KeyFile, public: Iterable[str], metrics: Metrics, reload_seconds: float) -> None:
        self.key_file, self.metrics, self.reload_seconds = key_file, metrics, reload_seconds
        self.keys = key_file.keys
        paths = set(public)
        if "/docs" in paths:
            paths.add("/docs/oauth2-redirect")  # Swagger UI's helper page
        self.public = frozenset(paths)
        for reason in ("missing", "malformed", "unknown", "scope"):
            metrics.auth_rejections.labels(reason)
        for result in ("ok", "error"):
            metrics.api_keys_reloads.labels(result)
        metrics.api_keys.set(len(self.keys))

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> Auth | None:
        """None when authentication is off; a bad keys file raises KeysFileError (the server does not start)."""
        if settings.api_keys_file is None:
            return None
        key_file = KeyFile(settings.api_keys_file)
        if not len(key_file.keys):
            log.warning("%s holds no key: every endpoint but %s answers 401", key_file.path,
                        ", ".join(settings.auth_public_paths) or "none")  # fmt: skip
        return cls(key_file, settings.auth_public_paths, metrics, settings.api_keys_reload_seconds)

    async def refuse(self, exc: ApiError, send: Send) -> None:
        self.metrics.auth_rejections.labels(getattr(exc, "reason", "other")).inc()
        status, body = render_api_error(self.metrics, exc)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="ctr"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def check_file(self) -> None:
        """Re-read the keys file if it changed; a broken file is logged and counted, the keys in force stay."""
        if not self.key_file.changed():
            return
        try:
            keys = self.key_file.reload()
        except KeysFileError as exc:
            self.metrics.api_keys_reloads.labels("error").inc()
            log.error("keys file not reloaded, keeping the %d keys in force: %s", len(self.keys), exc,
                      extra={"event": "keys_reload_failed"})  # fmt: skip
            return
        self.keys = keys  # one assignment: a request sees the old set or the new one
        self.metrics.api_keys_reloads.labels("ok").inc()
        self.metrics.api_keys.set(len(keys))
        log.info("keys file %s reloaded: %d keys", self.key_file.path, len(keys), extra={"event": "keys_reloaded"})

    def document(self, schema: dict[str, Any]) -> None:
        """The OpenAPI schema's security: both header schemes, and on each protected operation the scope it
        needs (OpenAPI 3.1 lets a non-OAuth requirement list roles) and its 401/403 answers."""
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key"},
        }
        for path, operations in schema["paths"].items():
            if path in self.public:
                continue
            needed = required_scope(path)
            roles = [needed] if needed else []
            for operation in operations.values():
                operation["security"] = [{"bearer": roles}, {"apiKey": roles}]
                answers = operation.setdefault("responses", {})
                answers["401"] = UNAUTHORIZED_DOC
                if needed:
                    answers["403"] = error_doc(f"the API key lacks the {needed!r} scope", "forbidden", "authorization")

    async def watch(self) -> None:
        """Check the keys file every ``reload_seconds`` until cancelled (a stat; a read only after a change)."""
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                await asyncio.to_thread(self.check_file)
            except Exception:  # a bug here must not stop revocations for the life of the process
                log.exception("checking the keys file failed")
