"""The markdown of ``load_tests/cluster_scale.py``'s report (reports/redis_cluster.md)."""

from __future__ import annotations

from typing import Any


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = ["# A table too big for one replica: Redis Cluster", "",
             f"Written by `{report['command']}` on {report['created_at']}. Machine: {report['machine']['cpus']} CPUs "
             f"**shared** with other jobs (load average {report['machine']['load_average'][0]:.1f} before, "
             f"{report['load_average_after'][0]:.1f} after); each server pinned to CPU 0, the driver to CPU 1, the "
             "three Redis masters unpinned. Rows of one run compare; absolute figures drift.", "",
             "## Models", "", "| model | features | training rows | train seconds (1 epoch) | trainer peak RSS MiB "
             "| test AUC |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, m in report["models"].items():
        lines.append(f"| {name} | {m['features']:,} | {m['training_rows']:,} | {m['train_seconds']:.0f} | "
                     f"{m['peak_rss_mb']:.0f} | {m['test_auc']:.4f} |")  # fmt: skip
    lines += ["", "## Publishing to the cluster (3 masters, `ctr publish --cluster`, 32 shards per version)", "",
              "| model | features | publish seconds | rows/s | publisher peak RSS MiB "
              "| Redis memory added (all masters) | bytes per feature | keys per master |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    before = report["empty_nodes"]
    for name, p in report["publish"].items():
        added = sum(n["used_memory"] for n in p["nodes"]) - sum(n["used_memory"] for n in before)
        keys = [n["keys"] - b["keys"] for n, b in zip(p["nodes"], before, strict=True)]
        before = p["nodes"]
        features = report["models"][name]["features"]
        rss = p["publisher_peak_rss_mb"]
        lines.append(f"| {name} | {features:,} | {p['seconds']:.0f} | {features / p['seconds']:,.0f} | "
                     f"{'-' if rss is None else f'{rss:.0f}'} | {added / 2**20:,.0f} MiB | {added / features:.0f} | "
                     f"{' / '.join(f'{k:,}' for k in keys)} |")  # fmt: skip
    balance = report.get("shard_balance", {})
    if balance:
        lines += ["", "Share of a version's rows on each master, by shards per version (`--shards`; from the slot "
                  "map: a feature's shard is its hash modulo the shard count, one hash slot per shard):", "",
                  "| shards per version | " + " | ".join(f"master {i + 1}" for i in range(len(before))) + " |",
                  "|---|" + "---|" * len(before)]  # fmt: skip
        for shards, shares in balance.items():
            lines.append(f"| {shards} | " + " | ".join(f"{x:.1%}" for x in shares) + " |")
    lines += ["", f"## Serving single records ({s['requests']:,} per pass, Zipf by C3, {s['concurrency']} connections; "
              f"row cache {s['cache_entries']:,} entries; lookup deadline {s['timeout_ms']:g} ms)", "",
              "| round | model | store | ready s | cold req/s | cold hits | warm req/s | warm hits | half-load p50 ms "
              "| p99 ms | non-200 | dropped | server CPU ms/req cold, warm | server peak RSS MiB |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in report["scenarios"]:
        cold, warm, half = r["cold"], r["warm"], r["half_load"]
        failed = sum(v for k, v in half["statuses"].items() if k != "200") + sum(
            v for run in (cold, warm) for k, v in run["statuses"].items() if k != "200"
        )
        lines.append(f"| {r.get('round', 1)} | {r['model']} | {r['store']} | {r['ready_seconds']:.0f} | "
                     f"{cold['requests_per_second']:,.0f} | "
                     f"{_hits(cold)} | {warm['requests_per_second']:,.0f} | {_hits(warm)} | "
                     f"{half['latency_ms']['p50']:.2f} | {half['latency_ms']['p99']:.2f} | {failed} | "
                     f"{half.get('dropped', 0):,} | {cold['server_cpu_ms_per_request']:.2f}, "
                     f"{warm['server_cpu_ms_per_request']:.2f} | {r['server_peak_rss_mb']:,.0f} |")  # fmt: skip
    lines += ["", "Non-200 answers are 503s: a cold lookup (one pipelined round trip of up to ~30 per-shard MGETs over "
              "three masters) that outlived the deadline on the loaded machine. *Dropped*: half-load requests the "
              "open-loop driver could not send because all 64 connections were busy (a stalled server; counted, "
              "not queued). Server CPU per request is the steadier figure on a shared machine."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _hits(run: dict[str, Any]) -> str:
    return f"{run['cache_hit_ratio']:.1%}" if "cache_hit_ratio" in run else "-"
