"""What the operator commands share: settings from flags and ``CTR_*`` variables, refused with one message."""

from __future__ import annotations

import sys
from typing import Any

from app.settings import Settings


def settings_or_none(command: str, **overrides: Any) -> Settings | None:
    """Settings with the given flags (None values ignored) over the environment; None after printing why not."""
    from pydantic import ValidationError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        print(f"ctr {command}: error: {where + ': ' if where else ''}{error['msg']}", file=sys.stderr)
        return None
