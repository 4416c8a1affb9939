"""The serving dashboard as code: ``python deploy/grafana/build_dashboard.py`` writes dashboards/ctr-serving.json.

Built with Grafana's own grafana-foundation-sdk (builders generated from Grafana's schemas, so a
panel or field that Grafana 11.6 does not know is a Python error here, not a silently broken
panel). grafanalib was the other candidate; its last release is from January 2024.

The committed JSON is what Grafana provisions (deploy/grafana/provisioning); a test regenerates it
and fails if the two differ, and tests/deploy/test_prometheus_stack.py runs every query below
against a real Prometheus scraping a live 2-worker server. ``$__rate_interval`` is Grafana's
(at least 4 scrape intervals); the test substitutes a fixed window for it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.heatmap import Panel as Heatmap
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT = Path(__file__).parent / "dashboards" / "ctr-serving.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")  # provisioning/datasources/prometheus.yml
RI = "$__rate_interval"
API = 'endpoint=~"/v1/.*"'


def query(expr: str, legend: str = "", ref: str = "A", *, heatmap: bool = False) -> Dataquery:
    q = Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)
    return q.format(PromQueryFormat.HEATMAP) if heatmap else q


def series(title: str, unit: str, *targets: tuple[str, str], description: str = "", width: int = 12):
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8)
    if description:
        panel = panel.description(description)
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def quantiles(metric: str, selector: str, by: str, title: str, description: str = ""):
    """p50, p95 and p99 of a histogram, per ``by`` label: histogram_quantile over rate."""
    targets = [(f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RI}])))",
                f"{{{{{by}}}}} p{round(q * 100)}") for q in (0.5, 0.95, 0.99)]  # fmt: skip
    return series(title, "s", *targets, description=description)


def stage_quantile(q: float, endpoint: str) -> str:
    buckets = f'ctr_stage_duration_seconds_bucket{{endpoint="{endpoint}"}}'
    return f"histogram_quantile({q}, sum by (le, stage) (rate({buckets}[{RI}])))"


def stage_panel(q: float):
    expr = stage_quantile(q, "/v1/score")
    return series(f"/v1/score p{round(q * 100)} per stage", "s", (expr, "{{stage}}"), width=8,
                  description="parse, encode, lookup (embedding rows), inference, serialise; every request, "
                  "offloaded or not")  # fmt: skip


def stat_panel(title: str, unit: str, expr: str, legend: str = "", width: int = 6):
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(5)
        .with_target(query(expr, legend))
    )


def build() -> Dashboard:
    d = (
        Dashboard("CTR scoring")
        .uid("ctr-serving")
        .tags(["ctr", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
    )
    d = d.with_row(Row("Traffic"))
    requests = f"sum by (endpoint, status) (rate(ctr_http_requests_total[{RI}]))"
    d = d.with_panel(series("Request rate", "reqps", (requests, "{{endpoint}} {{status}}")))
    d = d.with_panel(series(
        "Error ratio", "percentunit",
        (f'(sum(rate(ctr_http_requests_total{{{API},status=~"5.."}}[{RI}])) or vector(0)) / '
         f"sum(rate(ctr_http_requests_total{{{API}}}[{RI}]))", "5xx"),
        (f'(sum(rate(ctr_http_requests_total{{{API},status=~"4.."}}[{RI}])) or vector(0)) / '
         f"sum(rate(ctr_http_requests_total{{{API}}}[{RI}]))", "4xx (client errors)"),
        description="Share of /v1/* answers that are errors; 0 when there are none.",
    ))  # fmt: skip
    d = d.with_panel(series("Scored rows per second", "short",
                            (f"sum by (endpoint) (rate(ctr_scored_rows_total[{RI}]))", "{{endpoint}}")))  # fmt: skip
    d = d.with_panel(series("Errors by code", "reqps",
                            (f"sum by (code) (rate(ctr_request_errors_total[{RI}]))", "{{code}}")))  # fmt: skip

    d = d.with_row(Row("Latency"))
    d = d.with_panel(quantiles("ctr_http_request_duration_seconds", API, "endpoint", "Request latency"))
    d = d.with_panel(series("/v1/rank p99 per stage", "s", (stage_quantile(0.99, "/v1/rank"), "{{stage}}")))
    for q in (0.5, 0.95, 0.99):
        d = d.with_panel(stage_panel(q))
    lag_help = ("How late a periodic timer fires in each worker: time the loop spent on other work. High while "
                "latency is high = CPU-bound; low = waiting elsewhere (Redis)")  # fmt: skip
    d = d.with_panel(quantiles("ctr_event_loop_lag_seconds", "", "instance", "Event-loop lag", lag_help))

    d = d.with_row(Row("Embedding store (Redis)"))
    hits, misses = f"sum(rate(ctr_store_cache_hits_total[{RI}]))", f"sum(rate(ctr_store_cache_misses_total[{RI}]))"
    d = d.with_panel(
        series(
            "Row cache hit ratio",
            "percentunit",
            (f"{hits} / ({hits} + {misses})", "hit ratio"),
            description="Distinct features of a request found in the in-process row cache.",
        )
    )
    d = d.with_panel(quantiles("ctr_redis_roundtrip_duration_seconds", "", "instance", "Redis round trip",
                               "One request's pipelined MGET (all shards), cache misses only."))  # fmt: skip
    d = d.with_panel(series("Redis errors", "ops", (f"sum by (kind) (rate(ctr_redis_errors_total[{RI}]))", "{{kind}}")))
    d = d.with_panel(series("Row cache size", "bytes", ("sum by (instance) (ctr_store_cache_bytes)", "{{instance}}")))

    d = d.with_row(Row("Model versions"))
    d = d.with_panel(
        table.Panel().title("Active version").datasource(DATASOURCE).span(12).height(6).with_target(
            query("max by (name, version, trained_at) (ctr_model_info) == 1").format(PromQueryFormat.TABLE).instant()
        )
    )  # fmt: skip
    d = d.with_panel(stat_panel("Model age", "s", "time() - max(ctr_model_trained_timestamp_seconds)"))
    d = d.with_panel(stat_panel("Ready instances", "short", "sum(ctr_model_ready)"))
    d = d.with_panel(series(
        "Swaps and refused versions", "short",
        (f"sum(increase(ctr_model_activations_total[{RI}]))", "activations"),
        (f"sum by (reason) (increase(ctr_model_activation_refusals_total[{RI}]))", "refused: {{reason}}"),
    ))  # fmt: skip

    d = d.with_row(Row("Served scores and inputs (drift)"))
    d = d.with_panel(
        Heatmap().title("Served probability distribution").datasource(DATASOURCE).span(12).height(8)
        .description("Buckets at logits -6..6 step 0.5 (contract/score_buckets.py); le = their probabilities.")
        .with_target(query(f"sum by (le) (increase(ctr_served_probability_bucket[{RI}]))", "{{le}}", heatmap=True))
    )  # fmt: skip
    d = d.with_panel(series("Mean served probability by version", "percentunit", (
        f"sum by (version) (rate(ctr_served_probability_sum[{RI}])) / "
        f"sum by (version) (rate(ctr_served_probability_count[{RI}]))", "{{version}}")))  # fmt: skip
    d = d.with_panel(series(
        "OOV rate per field", "percentunit",
        (f"sum by (field) (rate(ctr_oov_rows_total[{RI}])) / "
         f'scalar(sum(rate(ctr_scored_rows_total{{endpoint="/v1/score"}}[{RI}])))', "{{field}}"),
        description="Share of /v1/score rows whose value was unseen in training (or missing): "
        "scored with the field's OOV row.",
    ))  # fmt: skip
    d = d.with_panel(series(
        "Score drift: PSI against validation", "none", ("max by (version) (ctr_drift_psi)", "{{version}}"),
        description="Population stability index of the last 10 minutes' served scores against the model's "
        "validation scores (app/feedback/drift.py): < 0.1 stable, > 0.25 alert (CtrScoreDrift).",
    ))  # fmt: skip
    d = d.with_panel(series(
        "OOV rate vs training", "none", ("max by (field) (ctr_drift_oov_ratio)", "{{field}}"),
        description="Each field's unseen-value rate over the last 10 minutes, divided by its rate in validation "
        "(1 = as trained; > 3 alerts: CtrOovJump).",
    ))  # fmt: skip
    d = d.with_panel(series(
        "Impression log", "short",
        (f"sum by (stream) (rate(ctr_logged_rows_total[{RI}]))", "written: {{stream}}"),
        (f"sum by (stream, reason) (rate(ctr_logged_rows_dropped_total[{RI}]))", "dropped: {{stream}} {{reason}}"),
        description="Rows per second written to the impression log and the feedback log, and dropped (queue full, "
        "write errors). Empty while CTR_IMPRESSION_LOG is off.",
    ))  # fmt: skip

    d = d.with_row(Row("Nightly retraining"))
    d = d.with_panel(stat_panel("Last outcome", "none", 'max by (model, outcome) (ctr_retrain_outcome) == 1',
                                "{{model}}: {{outcome}}"))  # fmt: skip
    d = d.with_panel(stat_panel("Hours since last success", "h",
                                "(time() - max by (model) (ctr_retrain_last_success_timestamp_seconds)) / 3600",
                                "{{model}}"))  # fmt: skip
    d = d.with_panel(stat_panel("Hours since last run", "h",
                                "(time() - max by (model) (ctr_retrain_last_run_timestamp_seconds)) / 3600",
                                "{{model}}"))  # fmt: skip
    d = d.with_panel(stat_panel("Rows", "short", "max by (part) (ctr_retrain_rows)", "{{part}}"))
    d = d.with_panel(series("Step durations of the last run", "s",
                            ("max by (step) (ctr_retrain_step_duration_seconds)", "{{step}}")))  # fmt: skip
    d = d.with_panel(series("AUC: candidate vs active", "none", ("max by (which) (ctr_retrain_auc)", "{{which}}")))
    return d


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
