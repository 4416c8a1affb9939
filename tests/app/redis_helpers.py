"""Helpers for tests of the Redis store: publish synchronously, make more versions, clean up a model."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis

from app.settings import Settings
from app.stores.publish import PublishResult, publish
from app.stores.redis_client import connect
from contract.artifact import load_artifact, write_artifact

SHARED_URL = "redis://127.0.0.1:6379/0"


def unique_model() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def publish_to(
    url: str, artifact: Path, model: str, *, cluster: bool = False, auth: dict[str, Any] | None = None, **kwargs: Any
) -> PublishResult:
    """Run ``app.stores.publish.publish`` to completion from synchronous test code."""

    async def go() -> PublishResult:
        settings = Settings(redis_url=url, redis_cluster=cluster, **(auth or {}))
        client = connect(settings)
        try:
            return await publish(client, settings.redis_address, artifact, model=model, progress=False, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(go())


def another_version(artifact: Path, root: Path, scale: float, version: str | None = None) -> Path:
    """A new, inactive version of the same model: same encoder and scorer graph, the table scaled (no torch)."""
    base = load_artifact(artifact)
    extra = {k: v for k, v in base.manifest.items() if k in ("dataset", "split", "metrics")}
    return write_artifact(
        root, base.name, encoder=base.encoder, linear=base.table[:, 0] * scale, embedding=base.table[:, 1:] * scale,
        bias=base.bias, onnx_model=base.onnx_path.read_bytes(), manifest_extra=extra,
        version=version or f"v{uuid.uuid4().hex[:10]}", activate=False,
    )  # fmt: skip


def sync_client(url: str, cluster: bool = False, **kwargs: Any) -> redis.Redis | redis.RedisCluster:
    if cluster:
        host, port = url.split("//")[1].split("/")[0].split(":")
        return redis.RedisCluster(host=host, port=int(port), **kwargs)
    return redis.Redis.from_url(url, **kwargs)


def model_keys_in(client: redis.Redis | redis.RedisCluster, model: str) -> list[bytes]:
    patterns = (f"ctr:{model}:*", f"ctr:{{{model}:*")
    return sorted(k for p in patterns for k in client.scan_iter(match=p, count=1000))


def delete_model(url: str, model: str, cluster: bool = False) -> None:
    """Remove every key of ``model`` (tests share 127.0.0.1:6379: never FLUSHDB there)."""
    client = sync_client(url, cluster)
    try:
        for key in model_keys_in(client, model):
            client.delete(key)
    finally:
        client.close()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def probabilities(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array(response.json()["probabilities"])


def metric(client, name: str, labels: str = "") -> float:
    """One sample of the app's /metrics, 0 when absent."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
