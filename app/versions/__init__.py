"""Which model version serves: reading a version, checking it, and keeping the server on the active one.

``activation`` reads a published version from Redis, refuses a corrupt or incompatible one, and swaps
the server's model when the active pointer moves. May import ``app.scoring``, ``app.stores``,
``app.state`` and below; the HTTP edge does not import it (``app.main`` starts it).
"""
