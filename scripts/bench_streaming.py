"""Peak memory of reading a CSV streamed (`ctr dataset inspect`) versus into memory (`read_dataset`).

    .venv/bin/python scripts/bench_streaming.py            # writes reports/datasets/streaming_memory.json

Writes synthetic click logs of growing size (schema tests/fixtures/tiny.toml: 7 columns, ~40 bytes
a row, 200k users, 50k items), then runs each reader in a fresh process and records its peak
resident memory (``ru_maxrss`` of that child) and wall time. The streamed reader should grow by a
few bytes per row (the split plan and the numeric values kept for quantiles), the in-memory one by
the raw table itself.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "fixtures" / "tiny.toml"
OUT = ROOT / "reports" / "datasets" / "streaming_memory.json"
STREAMED_ROWS = (500_000, 1_000_000, 2_000_000, 4_000_000)
IN_MEMORY_ROWS = (500_000, 1_000_000, 2_000_000)
IN_MEMORY = """
import sys
from contract.schema import load_schema
from training.data import read_dataset
dataset = read_dataset(load_schema(sys.argv[1]), sys.argv[2])
print(len(dataset))
"""


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    tags = np.array(["news", "sport", "music", "tech", "food", "travel"])
    devices = np.array(["ios", "android", "web"])
    with path.open("w") as fh:
        fh.write("ts,user,item,device,price,tags,clicked\n")
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            user = rng.zipf(1.3, n) % 200_000
            item = rng.zipf(1.2, n) % 50_000
            price = np.round(rng.uniform(1, 200, n), 2)
            tag_a, tag_b = rng.integers(0, 6, n), rng.integers(0, 6, n)
            click = rng.random(n) < 0.3
            lines = [
                f"{1_700_000_000 + start + i},{user[i]},{item[i]},{devices[i % 3]},{price[i]},"
                f"{tags[tag_a[i]]}|{tags[tag_b[i]]},{int(click[i])}\n"
                for i in range(n)
            ]
            fh.writelines(lines)


def measure(cmd: list[str]) -> dict[str, float]:
    """Run a command; its peak RSS (MB) and wall time (s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 2)}


def slope(points: list[dict]) -> float:
    """Bytes of peak memory per extra row (least squares over the sizes measured)."""
    rows = np.array([p["rows"] for p in points], dtype=float)
    mb = np.array([p["peak_rss_mb"] for p in points])
    return round(float(np.polyfit(rows, mb * 2**20, 1)[0]), 1)


def main() -> None:
    python = sys.executable
    ctr = str(Path(python).with_name("ctr"))
    streamed, in_memory = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in STREAMED_ROWS:
            path = Path(tmp) / f"log_{rows}.csv"
            write_log(path, rows)
            size = round(path.stat().st_size / 2**20, 1)
            point = {"rows": rows, "file_mb": size}
            point |= measure([ctr, "dataset", "inspect", str(SCHEMA), str(path), "--quiet", "--rows", "0", "--json"])
            streamed.append(point)
            print("streamed", point, file=sys.stderr)
            if rows in IN_MEMORY_ROWS:
                point = {"rows": rows, "file_mb": size} | measure([python, "-c", IN_MEMORY, str(SCHEMA), str(path)])
                in_memory.append(point)
                print("in memory", point, file=sys.stderr)
            path.unlink()
    report = {
        "command": "python scripts/bench_streaming.py",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "schema": str(SCHEMA.relative_to(ROOT)),
        "split": "time (the schema's), so the streamed reader also holds every timestamp while planning",
        "streamed": {
            "command": "ctr dataset inspect <schema> <file> --quiet --rows 0 --json",
            "points": streamed,
            "bytes_per_row": slope(streamed),
        },
        "in_memory": {
            "command": "training.data.read_dataset(schema, file)",
            "points": in_memory,
            "bytes_per_row": slope(in_memory),
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
