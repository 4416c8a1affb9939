"""Redis clients built from settings, and the one place where Redis' exceptions become ours.

Every call the server or ``ctr publish`` makes to Redis runs inside :func:`redis_errors`, which maps
redis-py's exception tree (and asyncio's timeout) to :class:`~app.errors.StoreUnavailable` with a
bounded ``kind`` (a metric label), counts it, and re-raises ``from`` the original. The messages name
the server's ``host:port`` and what we were doing, never credentials nor redis-py's own text (kept on
``__cause__`` for the server log).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from redis import exceptions as rx
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.settings import Settings

RedisClient = Redis | RedisCluster

# (exception classes, kind, what went wrong); the first match wins, so subclasses come first.
_TRANSLATIONS: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    ((TimeoutError, rx.TimeoutError), "timeout", "did not answer in time"),
    (
        (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError, rx.AuthenticationWrongNumberOfArgsError),
        "auth",
        "refused our credentials or permissions (check CTR_REDIS_USERNAME/CTR_REDIS_PASSWORD and the ACL)",
    ),
    ((rx.MaxConnectionsError,), "connection", "has no free connection in our pool"),
    ((rx.BusyLoadingError,), "connection", "is still loading its dataset"),
    ((rx.ConnectionError,), "connection", "is unreachable"),
    ((rx.ClusterError, rx.RedisClusterException), "cluster", "cluster is not usable (slots not covered or down)"),
    ((rx.OutOfMemoryError,), "response", "is out of memory (maxmemory reached)"),
    ((rx.ReadOnlyError,), "response", "is a read-only replica"),
    ((rx.ResponseError,), "response", "rejected a command"),
    ((rx.RedisError,), "other", "failed"),
)
TRANSLATED: tuple[type[BaseException], ...] = tuple(cls for classes, _, _ in _TRANSLATIONS for cls in classes)


def translate(exc: BaseException, address: str, doing: str, timeout_ms: float | None = None) -> StoreUnavailable:
    """Our error for a foreign one (the caller raises it ``from exc``)."""
    for classes, kind, problem in _TRANSLATIONS:
        if isinstance(exc, classes):
            if kind == "timeout" and timeout_ms is not None:
                problem = f"did not answer within {timeout_ms:g} ms"
            # The client sees what failed, never where (addresses stay in the server log and the CLI).
            return StoreUnavailable(f"Redis {problem} while {doing}", kind, address=address)
    raise TypeError(f"not a Redis error: {type(exc).__name__}")


@contextmanager
def redis_errors(
    address: str, doing: str, metrics: Metrics | None = None, timeout_ms: float | None = None
) -> Iterator[None]:
    """Run Redis calls; any Redis failure leaves as :class:`StoreUnavailable` (counted in ``metrics``)."""
    try:
        yield
    except TRANSLATED as exc:
        error = translate(exc, address, doing, timeout_ms)
        if metrics is not None:
            metrics.redis_errors.labels(error.kind).inc()
        raise error from exc


def connect(settings: Settings, socket_timeout_ms: float | None = None) -> RedisClient:
    """An asyncio client (cluster-aware if configured) with credentials and TLS from ``settings``.

    Commands time out after ``socket_timeout_ms`` (default: the version load timeout); the scoring
    path bounds each lookup with its own, much shorter deadline on top. One immediate retry lets a
    pooled connection that Redis closed (restart, idle timeout) reconnect instead of failing a request.
    """
    url = urlsplit(settings.redis_url)
    tls = url.scheme == "rediss"
    password = settings.redis_password.get_secret_value() if settings.redis_password is not None else None
    kwargs: dict[str, Any] = {
        "username": settings.redis_username,
        "password": password,
        "socket_timeout": (socket_timeout_ms or settings.redis_load_timeout_ms) / 1000,
        "socket_connect_timeout": settings.redis_connect_timeout_ms / 1000,
        "retry": Retry(NoBackoff(), 1),
        "client_name": "ctr-fm",
    }
    if tls:
        kwargs.update(_tls_options(settings))
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if settings.redis_cluster:
        return RedisCluster(host=host, port=port, ssl=tls, max_connections=settings.redis_max_connections, **kwargs)
    pool = BlockingConnectionPool(
        host=host,
        port=port,
        db=int(url.path.strip("/") or 0),
        max_connections=settings.redis_max_connections,
        timeout=None,  # wait for a free connection; callers bound the wait with their own deadline
        connection_class=SSLConnection if tls else Connection,
        **kwargs,
    )
    return Redis.from_pool(pool)


def _tls_options(settings: Settings) -> dict[str, Any]:
    def path(p: Any) -> str | None:
        return None if p is None else str(p)

    return {
        "ssl_ca_certs": path(settings.redis_tls_ca_file),
        "ssl_certfile": path(settings.redis_tls_cert_file),
        "ssl_keyfile": path(settings.redis_tls_key_file),
        "ssl_cert_reqs": "required" if settings.redis_tls_verify else "none",
        "ssl_check_hostname": settings.redis_tls_verify,
    }
