"""Opening line-oriented text files, transparently gunzipped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in ``.gz``."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")
