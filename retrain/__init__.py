"""The nightly retraining job (``ctr retrain``): train on a window of daily partitions, judge the candidate
against the active model on the same holdout days, promote it only through the gate.

It composes the offline side (``training``: read, train, export) with the serving side's registry
(``app.versions.registry``, ``app.stores.publish``: publish to Redis, move the active pointer), which
is why it is a package of its own: training never imports the server, and the server never imports
torch. ``config`` reads retrain.toml, ``window`` picks the days, ``gate`` decides, ``outcome`` writes
the run report and the Prometheus metrics, ``job`` runs the steps under a lock.
"""
