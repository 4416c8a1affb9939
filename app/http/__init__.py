"""The HTTP edge: what arrives on the wire and what goes back.

The app's two ways in — FastAPI's routes (``routes``) and the pure-ASGI front for the scoring
endpoints (``front``) — share the body reading (``body``), the endpoint work (``handlers``), the one
error body (``responses``) and the request metrics (``middleware``); ``openapi`` documents the bodies.
With API keys configured, ``auth`` checks every request in front of both, and ``admin`` adds the
endpoints that switch versions. May import ``app.scoring``, ``app.ranking``, ``app.versions``,
``app.security``, ``app.errors``, ``app.metrics``, ``app.settings`` and ``app.state``; nothing below
the edge imports it.
"""
