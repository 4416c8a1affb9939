"""The candidate catalog's cost: memory per item in a server, bytes per item on disk and in Redis, build time.

    python -m benchmarks.catalog_memory --model-dir models/ml100k --out reports/catalog_memory.json

For the artifact's own catalog (``ctr train``: every training item) and for synthetic catalogs of
10,000 and 100,000 items built with the same model (item ids beyond the vocabulary, so their item
feature is OOV; candidate fields drawn by load_tests.workload), it measures:

* building the catalog (encode every item, gather its rows, reduce them to its terms) and writing it;
* the bytes of its files (what the version directory and Redis hold; Redis adds ~100 B per part key);
* loading it as a server does (read, verify every sha256, build the id index): seconds, and the
  memory the loaded :class:`~contract.catalog.Catalog` holds (``tracemalloc``: numpy arrays, the items'
  JSON, the keys and the id index), per item;
* looking up 1,000 ids (the dense integer table, and the dict path it replaces).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from contract.artifact import load_artifact
from contract.catalog import build_catalog
from contract.catalog_files import CATALOG_DIR, current_generation, load_catalog_dir, read_blobs, write_catalog
from load_tests.workload import Workload


def measure(version_dir: Path, artifact: Any) -> dict[str, Any]:
    """Files, load time, held memory and lookup time of the version's current catalog."""
    generation = current_generation(version_dir)
    assert generation is not None
    _, blobs = read_blobs(version_dir, generation)
    started = time.perf_counter()
    catalog = load_catalog_dir(version_dir, artifact)
    load_s = time.perf_counter() - started
    del catalog
    tracemalloc.start()
    catalog = load_catalog_dir(version_dir, artifact)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert catalog is not None
    n = len(catalog)
    rng = np.random.default_rng(0)
    ids = [int(catalog.key(int(r))) for r in rng.integers(0, n, 1000)]
    timings = {"dense_table": min(timeit.repeat(lambda: catalog.locate(ids), number=200, repeat=5)) / 200}
    table, catalog._dense = catalog._dense, None
    timings["dict"] = min(timeit.repeat(lambda: catalog.locate(ids), number=200, repeat=5)) / 200
    catalog._dense = table
    return {
        "items": n,
        "file_bytes": {name: len(blob) for name, blob in blobs.items()},
        "file_bytes_per_item": round(sum(map(len, blobs.values())) / n, 1),
        "load_seconds": round(load_s, 4),
        "held_bytes_per_item": round(held / n, 1),
        "held_bytes_per_item_arrays": round(catalog.nbytes / n, 1),
        "dense_table": table is not None,
        "locate_1000_ids_us": {k: round(v * 1e6, 1) for k, v in timings.items()},
    }


def synthetic(artifact: Any, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` items with fresh ids (above every id the model knows) and workload-drawn candidate fields."""
    items = Workload(artifact.encoder, seed=seed, unseen_share=0.0).candidates(n)
    key = artifact.manifest.get("dataset", {}).get("schema", {}).get("candidate_id", "item_id")
    for i, item in enumerate(items):
        item[key] = 10_000 + i
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("models/ml100k"))
    parser.add_argument("--sizes", default="10000,100000", help="synthetic catalog sizes")
    parser.add_argument("--out", type=Path, default=Path("reports/catalog_memory.json"))
    args = parser.parse_args()
    artifact = load_artifact(args.model_dir)
    key = load_catalog_dir(artifact.path, artifact).manifest["key_field"]  # type: ignore[union-attr]
    rows: list[dict[str, Any]] = [{"catalog": "trained (every training item)", **measure(artifact.path, artifact)}]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / artifact.path.name
        shutil.copytree(artifact.path, copy, ignore=shutil.ignore_patterns(CATALOG_DIR))
        for n in (int(s) for s in args.sizes.split(",")):
            items = synthetic(artifact, n, seed=n)
            started = time.perf_counter()
            data = build_catalog(artifact.encoder, artifact.table, items, key)
            write_catalog(copy, data, key=key, source={"synthetic": n})
            build_s = time.perf_counter() - started
            del data
            rows.append({"catalog": f"synthetic, {n:,} items", "build_seconds": round(build_s, 3),
                         **measure(copy, artifact)})  # fmt: skip
    report = {
        "command": f"python -m benchmarks.catalog_memory --model-dir {args.model_dir} --sizes {args.sizes}",
        "model": {"version": artifact.version, "embedding_dim": artifact.embedding_dim},
        "machine": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg()), "python": platform.python_version()},
        "catalogs": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Candidate catalog: memory, files, load and lookup — model {artifact.version}", "",
             f"`{report['command']}` (loadavg {report['machine']['loadavg'][0]:.2f})", "",
             "| catalog | items | build s | files B/item | load s | held B/item (arrays) | 1,000 ids: dense/dict µs |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lookup = r["locate_1000_ids_us"]
        build = r.get("build_seconds", "—")
        lines.append(f"| {r['catalog']} | {r['items']:,} | {build} | {r['file_bytes_per_item']} | {r['load_seconds']} "
                     f"| {r['held_bytes_per_item']} ({r['held_bytes_per_item_arrays']}) | "
                     f"{lookup['dense_table']} / {lookup['dict']} |")  # fmt: skip
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
