"""The Grafana dashboard and the alert rules use only metric names /metrics exports."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bizra_node.observability import (
    CounterVec,
    Exporter,
    GaugeVec,
    HistogramVec,
    MultiprocWriter,
    NodeMetrics,
    SupervisorMetrics,
    vectors,
)

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "bizra-node.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels, keywords left out)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.group(0) not in _KEYWORDS:
            names.add(m.group(0))
    return names


def test_the_extractor_reads_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{route!~"x|y"}[5m])))'
            ' > 0.15 and on(instance) b_total offset 1m or max_over_time(c[5m:1m]) >= 1e3'
            ' / sum without (pid) (d{$instance})')
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "d"}


def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name /metrics produces once each metric has a value, read from the
    real exporter (multiprocess files, as under `bizra-node serve`: the workers' and
    the main process's)."""
    metrics = NodeMetrics()
    main = SupervisorMetrics()
    for vec in vectors(metrics) + vectors(main):
        labels = tuple("x" for _ in vec.labelnames)
        if isinstance(vec, CounterVec):
            vec.inc(labels)
        elif isinstance(vec, GaugeVec):
            vec.set(1.0, labels)
        elif isinstance(vec, HistogramVec):
            vec.observe(0.01, labels)
    writer = MultiprocWriter(main, str(tmp_path), pid=1)
    writer.flush()
    writer.close()
    exporter = Exporter(metrics, directory=str(tmp_path))
    text = asyncio.run(exporter.render()).decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            match = re.match(r"label_values\((\w+)", query["query"])
            if match:
                exprs.append(match.group(1))
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_dashboard_metrics_are_exported(tmp_path: Path) -> None:
    exported = exported_names(tmp_path)
    assert {"api_requests_total", "api_response_time_seconds_bucket",
            "api_response_time_seconds_sum", "api_response_time_seconds_count",
            "process_resident_memory_bytes", "memory_limit_bytes"} <= exported
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert used, "no expressions found"
    assert used - exported == set()


PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every target (up: 0 when a scrape fails)."""


def test_alert_metrics_are_exported(tmp_path: Path) -> None:
    exported = exported_names(tmp_path)
    used = set().union(*(metric_names(r["expr"]) for r in alert_rules()))
    assert used - exported - PROMETHEUS_OWN == set()


def test_alerts_for_a_node_down_not_ready_or_lied_to() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert "up" in metric_names(rules["BizraNodeDown"]["expr"])
    assert "node_ready" in metric_names(rules["BizraNodeNotReady"]["expr"])
    assert "upstream_integrity_failures_total" in metric_names(
        rules["BizraNodeIntegrityFailure"]["expr"])


def test_dashboard_has_the_panels_of_the_performance_targets() -> None:
    doc = json.loads(DASHBOARD.read_text())
    text = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in doc["panels"]}
    latency = text["API latency (p50 / p95 / p99)"]
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}," in latency
    assert "api_requests_total" in text["Throughput by route"]
    assert "db_query_duration_seconds_sum" in text["Database query time"]
    assert "cache_hits_total" in text["Cache hit rate"]
    assert "process_resident_memory_bytes" in text["Memory (RSS per worker)"]
    assert "circuit_breaker_state" in text["Circuit breaker state"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))


def test_every_alert_has_a_severity_a_runbook_and_a_test() -> None:
    tests = (ALERTS.parent / "alerts.test.yml").read_text()
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning")
        anchor = rule["annotations"]["runbook"].split("#")[1]
        heading = anchor.replace("-", " ")
        ops = (ROOT / "docs" / "operations.md").read_text().lower()
        assert f"## {heading}" in ops, anchor
        assert f"alertname: {rule['alert']}" in tests


FRESH_AT_ZERO = ("cache_evictions_total", "cache_hits_total", "cache_misses_total",
                 "cache_l2_errors_total", "chain_reorgs_total", "db_reads_total",
                 "db_replica_lag_seconds", "deduplicated_requests_total",
                 "memory_guard_actions_total", "memory_limit_bytes", "node_ready",
                 "upstream_hedges_total", "upstream_integrity_failures_total",
                 "upstream_retries_total")


def test_a_fresh_node_exports_the_dashboards_series_at_zero() -> None:
    """A node that has served nothing yet exports these series (at 0), so a fresh
    dashboard shows 0 rather than "no data"."""
    from bizra_node.app import Node
    from tests.conftest import make_settings

    node = Node(make_settings("http://127.0.0.1:9", db_enabled=True,
                              database_url="postgresql://127.0.0.1:9/none",
                              db_read_urls="postgresql://127.0.0.1:9/replica"))
    text = asyncio.run(node.exporter.render()).decode()
    samples = {s.name: s.value for fam in text_string_to_metric_families(text)
               for s in fam.samples}
    missing = [n for n in FRESH_AT_ZERO if n not in samples]
    assert missing == []
    assert all(samples[n] == 0 for n in FRESH_AT_ZERO if n != "memory_limit_bytes")
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert set(FRESH_AT_ZERO) <= used


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p.get("targets")]


def test_the_dashboard_shows_what_matters() -> None:
    """The node's promise (answers checked against what upstreams return), reorgs, the
    guard's refusals and the database reads each have a panel."""
    shown = {p["title"]: set().union(*(metric_names(t["expr"]) for t in p["targets"]))
             for p in panels()}
    wanted = {"upstream_integrity_failures_total", "chain_reorgs_total",
              "chain_reorgs_below_finality_total", "reorg_propagation_seconds_bucket",
              "rate_limited_total", "auth_failures_total", "db_reads_total",
              "upstream_head_block", "db_replica_lag_seconds", "node_ready"}
    assert wanted <= set().union(*shown.values())


def _unit_of(name: str) -> str:
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    if base.endswith("_seconds"):
        return "seconds"
    if base.endswith("_bytes"):
        return "bytes"
    return "number"


def dimension(expr: str) -> str:
    """What an expression measures: seconds, bytes, ratio, rate (per second), count (an
    increase over the interval) or number (a gauge of things)."""
    e = " ".join(expr.split())
    names = metric_names(e)
    if e.startswith("histogram_quantile("):
        (bucket,) = {n for n in names if n.endswith("_bucket")}
        return _unit_of(bucket)
    if " / " in e:
        bases = {re.sub(r"_(sum|count)$", "", n) for n in names}
        if len(bases) == 1 and all(n.endswith(("_sum", "_count")) for n in names):
            return _unit_of(bases.pop())  # a mean: sum / count
        return "ratio"
    if "rate(" in e:
        return "rate"
    if "increase(" in e:
        return "count"
    units = {_unit_of(n) for n in names}
    assert len(units) == 1, expr
    return units.pop()


GRAFANA_UNITS = {"seconds": {"s", "ms"}, "bytes": {"bytes", "decbytes"},
                 "ratio": {"percentunit"}, "rate": {"reqps", "ops", "cps", "wps"},
                 "count": {"short", "none"}, "number": {"short", "none"}}


def test_the_dimension_reader() -> None:
    assert dimension('histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket[5m])))') == \
        "seconds"
    assert dimension("sum(rate(x_seconds_sum[1m])) / sum(rate(x_seconds_count[1m]))") == \
        "seconds"
    assert dimension("sum(db_pool_in_use) / sum(db_pool_max)") == "ratio"
    assert dimension("sum by (op) (rate(cache_l2_errors_total[1m]))") == "rate"
    assert dimension("sum(write_behind_spool_bytes)") == "bytes"
    assert dimension("max by (upstream) (upstream_head_block)") == "number"


def test_one_unit_per_axis() -> None:
    """Every query of a panel measures the same thing, in the panel's unit (a head block
    number on a latency axis, or a ratio beside bytes, reads as nonsense)."""
    for panel in panels():
        dims = {dimension(t["expr"]) for t in panel["targets"]}
        assert len(dims) == 1, (panel["title"], dims)
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        assert defaults.get("unit") in GRAFANA_UNITS[dims.pop()], panel["title"]
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            assert all(p["id"] != "unit" for p in override.get("properties", [])), \
                panel["title"]


def test_replica_lag_says_no_replicas_rather_than_zero() -> None:
    (lag,) = [p for p in panels()
              if any("db_replica_lag_seconds" in t["expr"] for t in p["targets"])]
    assert all("vector(0)" not in t["expr"] for t in lag["targets"])
    assert lag["fieldConfig"]["defaults"]["noValue"] == "no replicas"
