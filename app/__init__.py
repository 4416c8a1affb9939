"""Online scoring server: FastAPI + onnxruntime over the feature contract. Never imports torch.

Layers, each importing only those below it::

    main        the app factory and its lifespan (uvicorn runs app.main:create_app)
    cli         ctr serve / score / rank / publish
    http        the HTTP edge: routes, the pure-ASGI front, bodies, error rendering, request metrics
    versions    which model version serves: read, check, swap (Redis activation)
    ranking     /v1/rank: the FM split into context and candidate parts, its cache
    scoring     a loaded model version: encoder, store, onnxruntime session, micro-batcher, explanations
    stores      embedding rows: in-process table, Redis store and its cache, publishing a version
    security    API keys (optional): the keys file, digests, the constant-time match
    state, settings, metrics, errors     what every layer shares
    contract    (outside app/) the feature encoding and artifact format shared with training
"""
