"""Cost of recording one value: prometheus_client's metrics vs app/counting.py's cheap ones, and the per-request
served-probability and OOV recording (docs/observability.md quotes these).

    python -m benchmarks.metrics_cost --out reports/metrics_cost.json

prometheus_client picks its value class when first imported (multiprocess mode if
PROMETHEUS_MULTIPROC_DIR is set), so each mode is measured in its own child process; both run in
this one command, so their ratios are comparable even on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

NUMBER = 100_000


def measure() -> dict[str, float]:
    """ns per call of each operation, in this process's prometheus_client mode."""
    import numpy as np
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from app.counting import CheapCollector
    from app.metrics import LATENCY_BUCKETS, Metrics, multiprocess_dir
    from contract.score_buckets import bucket_counts

    registry = CollectorRegistry()
    counter = Counter("c", "c", ["endpoint"], registry=registry).labels("/v1/score")
    histogram = Histogram("h", "h", ["stage"], buckets=LATENCY_BUCKETS, registry=registry).labels("parse")
    cheap = CheapCollector()
    cheap_counter = cheap.counter("cc_total", "c", ["endpoint"]).labels("/v1/score")
    cheap_histogram = cheap.histogram("ch", "h", ["stage"], LATENCY_BUCKETS).labels("parse")
    metrics = Metrics(multiprocess=False)
    rng = np.random.default_rng(0)
    logits1, logits256 = rng.normal(size=1).astype(np.float32), rng.normal(size=256).astype(np.float32)
    probs1, probs256 = 1 / (1 + np.exp(-logits1)), 1 / (1 + np.exp(-logits256))
    ops = {
        "prometheus_client Counter.inc": lambda: counter.inc(),
        "prometheus_client Histogram.observe": lambda: histogram.observe(0.0003),
        "cheap counter inc": lambda: cheap_counter.inc(),
        "cheap histogram observe": lambda: cheap_histogram.observe(0.0003),
        "record_served, 1 row": lambda: metrics.record_served("v", logits1, probs1),
        "record_served, 256 rows": lambda: metrics.record_served("v", logits256, probs256),
        "bucket_counts, 256 rows": lambda: bucket_counts(logits256),
    }
    if multiprocess_dir() is not None:  # the flush exists only in multiprocess mode
        workers = Metrics()
        workers.set_model("m", "v", "")
        request, stages = workers.requests.labels("/v1/score", "POST", "200"), workers.score_stages

        def record_then_flush() -> None:
            request.inc()
            for stage in stages:
                stage.observe(0.0003)
            workers.record_served("v", logits1, probs1)
            workers.cheap.flush()

        ops["one request's values recorded, then flushed to the files"] = record_then_flush
    calls = NUMBER // 10
    return {name: 1e9 * min(timeit.repeat(op, number=calls, repeat=5)) / calls for name, op in ops.items()}


def oov_cost(artifact: Path) -> dict[str, float]:
    """ns per ``FeatureEncoder.oov_counts`` with the artifact's encoder (MovieLens: 8 fields, 13 slots)."""
    import numpy as np

    from contract.artifact import load_artifact
    from contract.encoding import EncodedBatch

    encoder = load_artifact(artifact).encoder
    out = {}
    for n in (1, 256):
        ids = np.random.default_rng(0).integers(0, encoder.num_features, size=(n, encoder.num_slots))
        batch = EncodedBatch(ids, np.ones((n, encoder.num_slots), np.float32))
        seconds = min(timeit.repeat(lambda b=batch: encoder.oov_counts(b), number=NUMBER // 10, repeat=5))
        out[f"FeatureEncoder.oov_counts, {n} rows"] = 1e9 * seconds / (NUMBER // 10)
    return out


def child(multiprocess: bool, artifact: Path) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as directory:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = directory
        command = [sys.executable, "-m", "benchmarks.metrics_cost", "--child", "--artifact", str(artifact)]
        result = subprocess.run(command, env=env,
                                capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("reports/metrics_cost.json"))
    parser.add_argument("--artifact", type=Path, default=Path("models/ml100k"), help="a trained model (its encoder)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps({**measure(), **oov_cost(args.artifact)}))
        return 0
    report: dict[str, Any] = {
        "command": "python -m benchmarks.metrics_cost " + " ".join(argv if argv is not None else sys.argv[1:]),
        "unit": "ns per call (best of 5 repeats of 10,000 calls)",
        "single_process": child(False, args.artifact),
        "multiprocess_mode": child(True, args.artifact),
        "load_average": list(os.getloadavg()),
        "note": "shared machine: compare rows of this run, not runs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for mode in ("single_process", "multiprocess_mode"):
        for name, ns in report[mode].items():
            print(f"{mode:18s} {name:45s} {ns:10,.0f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
