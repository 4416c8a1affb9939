"""The impression log on a Redis stream, for deployments of many replicas: one stream per model and kind.

::

    ctr:<model>:log:impressions     XADD ... MAXLEN ~ CTR_IMPRESSION_STREAM_MAXLEN  day=<date> lines=<JSON lines>
    ctr:<model>:log:feedback

Each entry carries the JSON lines of one flush (what a segment file would get). Consumers read with a
consumer group (``ctr impressions pull`` writes them to daily segment files for ``ctr join``), so
several pullers share the work and an entry is acknowledged only once it is on disk. The stream is
trimmed by length: entries older than the newest MAXLEN are dropped if nobody pulled them.
"""

from __future__ import annotations

import redis

from app.settings import Settings


def stream_key(model: str, stream: str) -> bytes:
    return f"ctr:{model}:log:{stream}".encode()


class RedisStreamSink:
    """A writer-thread sink: a synchronous client of its own (the server's async one lives on the event loop)."""

    def __init__(self, settings: Settings, model: str, maxlen: int) -> None:
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.client = redis.Redis.from_url(settings.redis_url, username=settings.redis_username, password=password,
                                           socket_timeout=5, socket_connect_timeout=5)  # fmt: skip
        self.model, self.maxlen = model, maxlen

    def write(self, stream: str, day: str, data: bytes) -> None:
        try:
            self.client.xadd(stream_key(self.model, stream), {b"day": day.encode(), b"lines": data},
                             maxlen=self.maxlen, approximate=True)  # fmt: skip
        except redis.RedisError as exc:
            raise OSError(f"Redis stream {stream}: {type(exc).__name__}") from exc

    def rotate(self, force: bool = False) -> None:
        return None

    def close(self) -> None:
        self.client.close()
