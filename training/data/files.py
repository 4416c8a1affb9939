"""Which files a ``--data`` path stands for: one file, or a directory (optionally of dated partitions).

A directory is read in sorted path order. With ``source.partition_column`` every file must carry a
date in its path, in a directory name (``dt=2024-01-01/part-0.csv``, ``2024-01-01/``) or its file
name (``2024-01-01.csv``, ``20240101.csv``); the innermost date wins. Files are then read in date
order and each row gets its file's ISO date (``"2024-01-01"``) in that column, so a time split can
cut on partitions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from training.data.errors import DataError
from training.data.source import SUFFIXES, SourceSpec

_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


@dataclass(frozen=True)
class DataFile:
    path: Path
    date: str | None = None  # ISO date of its partition, when the source declares a partition column


def list_files(location: str | Path, spec: SourceSpec) -> list[DataFile]:
    """The files to read for ``location``, in reading order."""
    root = Path(location).expanduser()
    if not root.exists():
        raise DataError(f"{root}: no such file or directory")
    if root.is_file():
        paths = [root]
        relative = {root: Path(root.name)}
    else:
        assert spec.format is not None
        if spec.glob:
            candidates = root.glob(spec.glob)
        else:
            candidates = (p for p in root.rglob("*") if p.name.endswith(SUFFIXES[spec.format]))
        relative = {p: p.relative_to(root) for p in candidates if p.is_file()}
        # Hidden and marker files (.crc, _SUCCESS) are not data.
        paths = sorted(p for p, rel in relative.items() if not any(s.startswith((".", "_")) for s in rel.parts))
        if not paths:
            looked = spec.glob or " or ".join(f"*{s}" for s in SUFFIXES[spec.format])
            raise DataError(f"{root}: no {spec.format} files in this directory (looked for {looked})")
    if spec.partition_column is None:
        return [DataFile(p) for p in paths]
    files = [DataFile(p, partition_date(relative[p])) for p in paths]
    return sorted(files, key=lambda f: (f.date, str(f.path)))


def partition_date(path: Path) -> str:
    """The innermost date in a path (``dt=2024-01-01/part.csv`` -> ``"2024-01-01"``)."""
    for part in reversed(path.parts):
        for match in reversed(list(_DATE.finditer(part))):
            try:
                return dt.date(*(int(g) for g in match.groups())).isoformat()
            except ValueError:
                continue  # 8 digits that are not a date, e.g. a part number
    raise DataError(
        f"{path}: no partition date in this path (source.partition_column expects e.g. "
        "dt=2024-01-01/part.csv or 2024-01-01.csv)"
    )
