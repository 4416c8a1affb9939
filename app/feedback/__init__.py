"""The feedback loop on the server: the impression log (what was served, to whom, with which score)
and the clicks that come back for it (POST /v1/feedback).

``log`` queues rows off the request path and writes them from a thread of its own; ``segments``
and ``stream`` are where they land (daily JSON-lines files, or a Redis stream); ``events`` parses
a feedback body. ``ctr join`` (training side) turns a day of impressions and feedback into a
labelled partition the nightly job trains on. May import ``app.metrics``, ``app.settings``,
``app.errors`` and ``contract``.
"""
