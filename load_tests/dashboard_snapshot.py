"""The dashboard's main panels from a real load run, rendered with matplotlib (Grafana is not installable here).

    python -m load_tests.dashboard_snapshot --model-dir models/ml100k --out reports/dashboard_snapshot.json

Stack (load_tests/observability.py): the two newest versions of ``--model-dir`` published to Redis
under a unique model name (deleted afterwards), ``ctr serve --workers 2`` on the Redis store,
a Pushgateway with a sample of the nightly job's metrics (sample values: the retraining job itself
is not run here), and Prometheus running deploy/prometheus/prometheus.yml at 1 s scrapes. Load:
load_tests/steady_load.py in phases of different rates; after the first phase the newer version is
activated (a hot swap). Every panel drawn is the dashboard JSON's own query (found by panel title),
run through Prometheus' ``query_range`` with ``$__rate_interval`` = ``--rate-interval``.
Writes the PNG beside ``--out`` and, in ``--out``, the queries, the load's statuses and the window.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from load_tests.observability import Prometheus, Pushgateway, dashboard_targets, legend, push_sample_retrain_metrics
from load_tests.redis_store import delete_model, publish_version
from load_tests.server import ServerProcess
from load_tests.skewed import movielens_test_records
from load_tests.steady_load import request_mix, send

PANELS = ("Request rate", "Error ratio", "Request latency", "/v1/score p99 per stage", "/v1/rank p99 per stage",
          "Scored rows per second", "Row cache hit ratio", "Redis round trip", "Swaps and refused versions",
          "Mean served probability by version", "OOV rate per field", "Served probability distribution")  # fmt: skip


def versions_of(model_dir: Path) -> list[Path]:
    found = sorted(p for p in model_dir.iterdir() if (p / "manifest.json").is_file())
    if len(found) < 2:
        raise SystemExit(f"{model_dir} needs two trained versions (run `ctr train` twice, e.g. --seed 1 and 2)")
    return found[-2:]


def run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    old, new = versions_of(args.model_dir)
    model = f"snapshot-{uuid.uuid4().hex[:8]}"
    bodies = request_mix(movielens_test_records())
    statuses: list[dict[str, Any]] = []
    started: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="dashboard-snapshot-") as tmp:
        workdir = Path(tmp)
        try:
            publish_version(old, args.redis_url, model)
            env = {"CTR_STORE": "redis", "CTR_REDIS_URL": args.redis_url, "CTR_REDIS_MODEL": model}
            server = ServerProcess(env, workers=2).start(timeout=120)
            started.append(server)
            gateway = Pushgateway(workdir / "pushgateway").start()
            started.append(gateway)
            push_sample_retrain_metrics(gateway.url, model)
            prometheus = Prometheus(workdir / "prometheus", {"ctr-server": [f"127.0.0.1:{server.port}"],
                                                             "pushgateway": [f"127.0.0.1:{gateway.port}"]})  # fmt: skip
            prometheus.start()
            started.append(prometheus)
            time.sleep(3)
            begin = time.time()
            for i, (rate, seconds) in enumerate(args.phases):
                if i == 1:
                    log(f"activating {new.name} (hot swap)")
                    publish_version(new, args.redis_url, model)
                log(f"phase {i + 1}: {rate:g} req/s for {seconds:g} s")
                result = asyncio.run(send(server.url, bodies, rate, seconds))
                statuses.append({"rate": rate, "seconds": seconds, "statuses": result})
            time.sleep(3)
            end = time.time()
            panels = query_panels(prometheus, begin, end, args.rate_interval)
        finally:
            for process in reversed(started):
                process.stop()
            delete_model(args.redis_url, model)
    return {"created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "versions": {"first": old.name, "activated_after_phase_1": new.name}, "load": statuses,
            "window_seconds": round(end - begin, 1), "rate_interval": args.rate_interval, "panels": panels}  # fmt: skip


def query_panels(prometheus: Prometheus, begin: float, end: float, rate_interval: str) -> list[dict[str, Any]]:
    targets = dashboard_targets()
    out = []
    for title in PANELS:
        chosen = [(expr, fmt) for t, expr, fmt in targets if t == title]
        if not chosen:
            raise SystemExit(f"panel {title!r} is not in the dashboard")
        series = []
        for expr, fmt in chosen:
            promql = expr.replace("$__rate_interval", rate_interval)
            for s in prometheus.query_range(promql, begin, end, 2.0):
                series.append({"expr": promql, "labels": s["metric"], "legend": legend(fmt, s["metric"]),
                               "values": [[round(float(t) - begin, 1), float(v)] for t, v in s["values"]]})  # fmt: skip
        out.append({"title": title, "series": series})
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = report["panels"]
    fig, axes = plt.subplots(4, 3, figsize=(18, 17))
    for ax, panel in zip(axes.flat, panels, strict=True):
        ax.set_title(panel["title"], fontsize=11)
        if panel["title"] == "Served probability distribution":
            heatmap(ax, panel["series"])
            continue
        for s in panel["series"][:12]:
            values = np.array(s["values"], dtype=np.float64)
            if len(values):
                ax.plot(values[:, 0], values[:, 1], label=s["legend"][:40])
        ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel("seconds into the run")
        ax.grid(alpha=0.3)
    swap = sum(p["seconds"] for p in report["load"][:1])
    for ax in axes.flat:
        ax.axvline(swap, color="grey", linestyle=":", linewidth=1)
    fig.suptitle(f"CTR scoring dashboard, rendered from Prometheus query_range during a load run "
                 f"({report['created_at']}; dotted line: hot swap to {report['versions']['activated_after_phase_1']})",
                 fontsize=12)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def heatmap(ax: Any, series: list[dict[str, Any]]) -> None:
    """Served-probability buckets over time: cumulative ``le`` series de-cumulated into counts."""
    finite = sorted((float(s["labels"]["le"]), s) for s in series if s["labels"]["le"] != "+Inf")
    if not finite:
        return
    times = np.array([t for t, _ in finite[0][1]["values"]])
    cumulative = np.array([[v for _, v in s["values"]][: len(times)] for _, s in finite])
    counts = np.diff(np.vstack([np.zeros(len(times)), cumulative]), axis=0)
    edges = [le for le, _ in finite]
    ax.imshow(counts, aspect="auto", origin="lower", cmap="viridis",
              extent=(times[0], times[-1], 0, len(edges)))  # fmt: skip
    ticks = range(0, len(edges), 4)
    ax.set_yticks([i + 0.5 for i in ticks], [f"{edges[i]:.3f}" for i in ticks])
    ax.set_ylabel("served probability (bucket upper edge)")
    ax.set_xlabel("seconds into the run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=Path("models/ml100k"), help="holds two trained versions")
    parser.add_argument("--out", type=Path, default=Path("reports/dashboard_snapshot.json"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rate-interval", default="10s", help="what $__rate_interval becomes")
    parser.add_argument("--phase", dest="phases", type=float, nargs=2, action="append", metavar=("RATE", "SECONDS"),
                        help="load phases (default: 100 req/s 40 s, 300 req/s 40 s, 150 req/s 40 s)")  # fmt: skip
    parser.add_argument("--render", action="store_true", help="only redraw the PNG from --out (no run)")
    args = parser.parse_args(argv)
    if args.render:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return 0
    args.phases = args.phases or [(100.0, 40.0), (300.0, 40.0), (150.0, 40.0)]
    report = run(args, lambda line: print(line, file=sys.stderr, flush=True))
    given = argv if argv is not None else sys.argv[1:]
    report["command"] = "python -m load_tests.dashboard_snapshot " + " ".join(given)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
