"""Every dashboard query and alert expression, evaluated by a real Prometheus scraping a live server.

The stack: a throw-away Redis with the tiny model published, ``ctr serve --workers 2`` on the Redis
store (as in deploy/compose.yaml), a Pushgateway holding a sample of the nightly job's metrics, and
Prometheus running deploy/prometheus/prometheus.yml (targets swapped for loopback ones, 1 s
intervals) with deploy/prometheus/alerts.yml. Load runs while Prometheus scrapes; then every panel
query of deploy/grafana/dashboards/ctr-serving.json must return series without error, and so must
every alert's signal (the expression before its threshold, see load_tests.observability).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest

from load_tests.observability import (
    PROMETHEUS,
    PUSHGATEWAY,
    Prometheus,
    Pushgateway,
    alert_expressions,
    alert_signal,
    dashboard_queries,
    grafana_to_promql,
    push_sample_retrain_metrics,
)
from load_tests.redis_store import publish_version
from load_tests.server import ServerProcess

RATE_WINDOW = "30s"  # what $__rate_interval would be at 1 s scrapes is 4 s; a wider window is steadier here
LOAD_SECONDS = 12


def send(url: str, path: str, body: bytes) -> int:
    request = urllib.request.Request(url + path, body, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def load(url: str, records: list[dict], seconds: float) -> dict[int, int]:
    """Single records, batches, rank requests and a few bad bodies, for ``seconds``."""
    statuses: dict[int, int] = {}
    context = {k: records[0][k] for k in ("user", "device") if k in records[0]}
    rank = json.dumps({"context": context, "candidates": [{"item": r["item"]} for r in records[:8]]}).encode()
    bodies = [("/v1/score", json.dumps({"records": [r]}).encode()) for r in records]
    bodies += [("/v1/score", json.dumps({"records": records[:16]}).encode()), ("/v1/rank", rank),
               ("/v1/score", b'{"records": []}')]  # fmt: skip
    deadline, i = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        path, body = bodies[i % len(bodies)]
        status = send(url, path, body)
        statuses[status] = statuses.get(status, 0) + 1
        i += 1
    return statuses


@pytest.fixture(scope="module")
def stack(artifact_path, sample_records_module, tmp_path_factory):
    if PROMETHEUS is None or PUSHGATEWAY is None:
        pytest.fail("prometheus / prometheus-pushgateway not installed (scripts/test.sh installs them)")
    from tests.redis_servers import RedisServer

    workdir = tmp_path_factory.mktemp("stack")
    started = []
    try:
        redis = RedisServer(workdir).start()
        started.append(redis)
        model = f"stack-{uuid.uuid4().hex[:8]}"
        publish_version(artifact_path, redis.url, model)
        env = {"CTR_STORE": "redis", "CTR_REDIS_URL": redis.url, "CTR_REDIS_MODEL": model,
               "CTR_METRICS_DIR": str(workdir / "metrics"), "CTR_SERVED_METRICS": "true",
               "CTR_DRIFT_SECONDS": "1", "CTR_DRIFT_MIN_ROWS": "10",
               "CTR_IMPRESSION_LOG": "file", "CTR_IMPRESSION_DIR": str(workdir / "logs")}  # fmt: skip
        server = ServerProcess(env, workers=2).start(timeout=90)
        started.append(server)
        gateway = Pushgateway(workdir / "pushgateway").start()
        started.append(gateway)
        push_sample_retrain_metrics(gateway.url, "tiny")
        prometheus = Prometheus(workdir / "prometheus", {"ctr-server": [f"127.0.0.1:{server.port}"],
                                                         "pushgateway": [f"127.0.0.1:{gateway.port}"]})  # fmt: skip
        prometheus.start()
        started.append(prometheus)
        statuses = load(server.url, sample_records_module, LOAD_SECONDS)
        time.sleep(2)  # a scrape after the last request
        yield prometheus, statuses
    finally:
        for process in reversed(started):
            process.stop()


@pytest.fixture(scope="module")
def sample_records_module(tiny_prepared):
    from training.pipeline import raw_records

    return raw_records(tiny_prepared, tiny_prepared.split.test[:20])


def test_targets_are_up_and_rules_healthy(stack):
    prometheus, statuses = stack
    assert statuses.get(200, 0) > 100 and statuses.get(422, 0) > 0, statuses
    targets = prometheus.api("targets")["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"ctr-server", "pushgateway"}
    assert all(t["health"] == "up" for t in targets), [(t["scrapeUrl"], t["lastError"]) for t in targets]
    rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
    assert len(rules) == len(alert_expressions())
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_every_dashboard_query_returns_series(stack):
    prometheus, _ = stack
    queries = dashboard_queries()
    assert len(queries) >= 25
    empty = []
    for title, expr in queries:
        result = prometheus.query(grafana_to_promql(expr, RATE_WINDOW))  # raises on a PromQL error
        if not result:
            empty.append(f"{title}: {expr}")
    assert not empty, "queries without series:\n" + "\n".join(empty)


def test_every_alert_expression_evaluates_and_its_signal_has_series(stack):
    prometheus, _ = stack
    empty = []
    for name, expr in alert_expressions():
        prometheus.query(expr)  # the rule as written: no error
        if not prometheus.query(alert_signal(expr)):
            empty.append(f"{name}: {alert_signal(expr)}")
    assert not empty, "alert signals without series:\n" + "\n".join(empty)


def test_scraped_counts_match_what_was_sent(stack):
    """The dashboards read sums over both workers: the request count Prometheus holds is the load's."""
    prometheus, statuses = stack
    total = prometheus.query('sum(max_over_time(ctr_http_requests_total{endpoint=~"/v1/.*"}[1m]))')
    assert float(total[0]["value"][1]) == sum(statuses.values())
