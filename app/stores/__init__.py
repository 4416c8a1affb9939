"""Embedding stores: where a model's table rows come from, and how a version gets into Redis.

``memory`` is the in-process store (the artifact's table); ``redis_store`` reads rows of a published
version through the bounded ``row_cache``; ``redis_client`` builds clients and is the one place Redis'
exceptions become ours; ``redis_keys`` names every key; ``publish`` writes a version; ``deadline`` bounds
one lookup. May import ``contract``, ``app.errors``, ``app.metrics`` and ``app.settings`` only.
"""
