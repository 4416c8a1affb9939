from load_tests.cluster_report import markdown


def test_the_cluster_report_computes_bytes_per_feature_and_keys_per_master():
    def run(rps: float, hits: float | None) -> dict:
        out = {"requests_per_second": rps, "statuses": {"200": 100}, "server_cpu_ms_per_request": 0.5,
               "latency_ms": {"p50": 1.0, "p99": 5.0}, "dropped": 3}  # fmt: skip
        if hits is not None:
            out["cache_hit_ratio"] = hits
        return out

    report = {
        "command": "python -m load_tests.cluster_scale", "created_at": "now",
        "machine": {"cpus": 2, "load_average": [3.0]}, "load_average_after": [3.5],
        "settings": {"requests": 100, "concurrency": 16, "cache_entries": 1000, "timeout_ms": 100},
        "models": {"big": {"features": 1_000_000, "training_rows": 10, "train_seconds": 5, "peak_rss_mb": 900,
                           "test_auc": 0.7}},
        "empty_nodes": [{"used_memory": 1_000_000, "keys": 0}] * 3,
        "publish": {"big": {"seconds": 100, "publisher_peak_rss_mb": 1200.0,
                            "nodes": [{"used_memory": 1_000_000 + 50_000_000, "keys": 333_000}] * 3}},
        "scenarios": [{"model": "big", "store": "redis cluster", "ready_seconds": 2, "cold": run(900, 0.5),
                       "warm": run(1500, 0.99), "half_load": run(750, None), "server_peak_rss_mb": 300}],
    }  # fmt: skip
    text = markdown(report)
    assert "| big | 1,000,000 | 100 | 10,000 | 1200 | 143 MiB | 150 | 333,000 / 333,000 / 333,000 |" in text
    row = "| 1 | big | redis cluster | 2 | 900 | 50.0% | 1,500 | 99.0% | 1.00 | 5.00 | 0 | 3 | 0.50, 0.50 | 300 |"
    assert row in text
