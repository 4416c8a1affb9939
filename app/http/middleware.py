"""Counting and timing every HTTP request (``ctr_http_requests_total``, ``ctr_http_request_seconds``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by route template and status.

    Unknown paths share the label ``other`` so that a scanner cannot blow up label cardinality.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            status = status or 500
            raise
        finally:
            status = status or 499  # returned without answering: the client had gone (nginx's "client closed")
            key = (scope["path"], scope["method"], status)
            children = self._children.get(key)
            if children is None:
                children = self._children_for(*key)
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    def _children_for(self, path: str, method: str, status: int) -> tuple[Any, Any]:
        """The labelled counter and histogram of one (endpoint, method, status); ``labels()`` costs µs."""
        endpoint = path if path in self.endpoints else "other"
        children = (
            self.metrics.requests.labels(endpoint, method, str(status)),
            self.metrics.request_seconds.labels(endpoint),
        )
        if endpoint != "other" and len(self._children) < 4096:  # a scanner's paths are not remembered
            self._children[(path, method, status)] = children
        return children
