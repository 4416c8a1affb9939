"""The operator's command line on the serving side: ``ctr serve``, ``ctr score``, ``ctr rank``, ``ctr publish``,
``ctr models``, ``ctr keys``.

Each module registers its sub-commands on the ``ctr`` parser (``cli/`` at the top of the tree builds it).
Commands import what they run lazily, inside the command, so ``ctr --help`` stays fast and never needs
the server's heavier dependencies. May import any ``app`` package; nothing in ``app`` imports this one.
"""

from __future__ import annotations

from typing import Any

from app.cli import client, impressions, keys, models, publish, serve


def register(commands: Any) -> None:
    """Add the serving side's sub-commands to the ``ctr`` parser."""
    serve.register(commands)
    client.register(commands)
    publish.register(commands)
    models.register(commands)
    impressions.register(commands)
    keys.register(commands)
