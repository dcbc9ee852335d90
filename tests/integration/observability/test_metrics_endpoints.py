"""GET /metrics and GET /api/metrics of a node on the devnet (one process)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bizra_node.app import Node
from tests.conftest import Devnet, make_settings, running_node


def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


async def test_prometheus_text_counts_requests_by_route(
        devnet: Devnet, node_client: tuple[Node, httpx.AsyncClient]) -> None:
    _, client = node_client
    for _ in range(2):
        resp = await client.post("/api/v1/validate/transaction",
                                 json={"txHash": devnet.manifest.legacy_tx})
        assert resp.status_code == 200
    await client.get(f"/api/v1/transactions/{devnet.manifest.eip1559_tx}")
    await client.get("/wp-login.php")
    resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    counts = series(resp.text, "api_requests_total")
    assert counts[(("route", "/api/v1/validate/transaction"), ("status", "200"))] == 2
    assert counts[(("route", "/api/v1/transactions/{param}"), ("status", "200"))] == 1
    assert counts[(("route", "unmatched"), ("status", "404"))] == 1
    assert series(resp.text, "process_resident_memory_bytes")


async def test_api_metrics_is_the_runbook_document(
        devnet: Devnet, node_client: tuple[Node, httpx.AsyncClient]) -> None:
    node, client = node_client
    node.metrics.cache_hits.inc(("l1", "transaction"), 3)
    node.metrics.cache_misses.inc(("l1", "transaction"), 1)
    resp = await client.get("/api/metrics", headers={"x-request-id": "ops-1"})
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["cache"]["hit_rate"] == 0.75
    assert doc["cache"]["keys"]["transaction"]["hits"] == 3
    assert doc["cache"]["keys"]["block"]["hits"] == 0
    assert doc["cache"]["keys"]["address"]["hits"] == 0
    assert set(doc["validation"]) >= {"retry_stats", "deduplication_rate"}
    assert [b["state"] for b in doc["breakers"].values()] == ["closed"]  # one upstream
    assert doc["pools"] == {}
    assert doc["meta"] == {"requestId": "ops-1", "multiprocess": False}


async def test_metrics_disabled_records_no_requests(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, metrics_enabled=False)) as (node, client):
        assert (await client.get("/health")).status_code == 200
        assert node.metrics.api_requests.values == {}
        resp = await client.get("/metrics")
        assert resp.status_code == 200 and "api_requests_total{" not in resp.text
