"""GET /metrics and GET /api/metrics of a node on the devnet (one process)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bizra_node.app import Node
from bizra_node.tuning import Harness
from tests.conftest import Devnet, make_settings, running_node, tuned


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
    async with running_node(make_settings(devnet.url),
                            harness=Harness(metrics_enabled=False)) as (node, client):
        assert (await client.get("/health")).status_code == 200
        assert node.metrics.api_requests.values == {}
        resp = await client.get("/metrics")
        assert resp.status_code == 200 and "api_requests_total{" not in resp.text


async def test_node_ready_follows_readiness_without_a_probe(devnet: Devnet) -> None:
    """node_ready (the alert's input) is kept by the node itself: 1 while its upstream
    answers, 0 once it does not, without anyone calling /ready."""
    import asyncio
    import time

    from tests.support.proxy import counting_proxy

    async def ready_value(node: Node) -> float:
        text = (await node.exporter.render()).decode()
        return series(text, "node_ready")[()]

    async def wait_value(node: Node, want: float) -> None:
        deadline = time.monotonic() + 30
        while await ready_value(node) != want:
            assert time.monotonic() < deadline, f"node_ready never became {want}"
            await asyncio.sleep(0.05)

    async with counting_proxy(devnet.url) as proxy, \
            running_node(make_settings(proxy.url),
                         tuning=tuned(readiness_interval=0.1)) as (node, client):
        await wait_value(node, 1.0)
        proxy.fail_next = 10**9  # the upstream answers 502 from now on
        await wait_value(node, 0.0)
        assert (await client.get("/ready")).status_code == 503


async def test_which_answers_are_envelopes_as_the_readme_says(
        devnet: Devnet, node_client: tuple[Node, httpx.AsyncClient]) -> None:
    _, client = node_client
    headers = {"x-request-id": "readme-1"}
    health = (await client.get("/health", headers=headers)).json()
    assert health == {"success": True, "data": {"status": "ok"}}  # no meta
    ready = (await client.get("/ready", headers=headers)).json()
    assert set(ready) == {"success", "data", "meta"} and ready["meta"]["requestId"] == "readme-1"
    doc = (await client.get("/api/metrics", headers=headers)).json()
    assert "success" not in doc and "data" not in doc and doc["meta"]["requestId"] == "readme-1"
    answer = (await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}",
                               headers=headers)).json()
    assert set(answer) == {"success", "data", "meta"}
    assert answer["meta"] == {"requestId": "readme-1"}
