"""Ranking many candidates for one context (/v1/rank): the FM split into a context and a candidate part.

``plan`` holds the split arithmetic and a model's ranking plan, ``request`` parses and encodes a rank
body, ``cache`` keeps per-candidate terms per model version, and ``rank`` runs one request. May import
``app.scoring`` (the model it ranks with), ``contract``, ``app.errors``; never the HTTP edge.
"""
