"""Scoring: a loaded model version and what it computes.

``model`` is one version (encoder, embedding store, onnxruntime session) swapped as a whole;
``scorer`` its onnxruntime session; ``microbatch`` merges concurrent small runs; ``request`` parses a
/v1/score body; ``explain`` splits a logit into exact per-field and per-pair parts. May import
``contract``, ``app.stores``, ``app.errors``, ``app.metrics`` and ``app.settings``; never the HTTP edge.
"""
