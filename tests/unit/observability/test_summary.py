"""The /api/metrics document computed from aggregated families."""

from __future__ import annotations

from pathlib import Path

from bizra_node.observability import Exporter, MultiprocWriter, NodeMetrics, summarize


async def test_zeros_when_nothing_was_counted() -> None:
    doc = summarize(await Exporter(NodeMetrics()).families())
    assert doc["cache"]["hit_rate"] == 0.0
    for kind in ("transaction", "block", "address"):
        assert doc["cache"]["keys"][kind] == {"hits": 0, "misses": 0, "lookups": 0,
                                              "hit_rate": 0.0}
    assert doc["validation"]["retry_stats"]["retries"] == 0
    assert doc["validation"]["retry_stats"]["retry_rate"] == 0.0
    assert doc["validation"]["deduplication_rate"] == 0.0
    assert doc["breakers"] == {} and doc["pools"] == {}
    assert doc["requests"] == {"total": 0, "errors": 0, "error_rate": 0.0, "by_status": {}}
    assert doc["memory"]["rss_bytes"] > 0


def _busy() -> NodeMetrics:
    m = NodeMetrics()
    m.cache_hits.inc(("l1", "transaction"), 60)
    m.cache_misses.inc(("l1", "transaction"), 40)
    m.cache_hits.inc(("l2", "transaction"), 30)  # 30 of the 40 L1 misses
    m.cache_misses.inc(("l2", "transaction"), 10)
    m.cache_hits.inc(("l1", "block"), 5)
    m.cache_misses.inc(("l1", "block"), 5)
    m.dedup_requests.inc(("transaction",), 4)
    m.upstream_calls.inc(("http://a", "eth_getBlockByNumber", "ok"), 50)
    m.upstream_retries.inc(("http://a", "timeout"), 5)
    m.breaker_state.set(1, ("http://a",))
    m.breaker_transitions.inc(("http://a", "open"))
    m.db_pool_size.set(10, ("primary",))
    m.db_pool_in_use.set(9, ("primary",))
    m.db_pool_max.set(12, ("primary",))
    m.api_requests.inc(("/health", "200"), 98)
    m.api_requests.inc(("/api/v1/blocks/{param}", "503"), 2)
    return m


async def test_rates_from_one_process() -> None:
    doc = summarize(await Exporter(_busy()).families())
    cache = doc["cache"]
    assert cache["keys"]["transaction"] == {"hits": 90, "misses": 10, "lookups": 100,
                                            "hit_rate": 0.9}
    assert cache["keys"]["block"]["hits"] == 5
    assert cache["hit_rate"] == round(95 / 110, 4)
    assert cache["tiers"]["l2"]["hit_rate"] == 0.75
    assert doc["validation"]["deduplication_rate"] == round(4 / 15, 4)
    retry = doc["validation"]["retry_stats"]
    assert retry["retries"] == 5 and retry["retry_rate"] == 0.1
    assert retry["by_reason"] == {"timeout": 5}
    assert doc["breakers"]["http://a"]["state"] == "half_open"
    assert doc["breakers"]["http://a"]["transitions"] == {"open": 1}
    assert doc["pools"]["primary"]["utilization"] == 0.75
    assert doc["requests"]["error_rate"] == 0.02


async def test_rates_over_two_workers(tmp_path: Path) -> None:
    other = MultiprocWriter(_busy(), str(tmp_path), pid=1)
    other.flush()
    exporter = Exporter(_busy(), directory=str(tmp_path))
    doc = summarize(await exporter.families())
    assert doc["cache"]["keys"]["transaction"]["hits"] == 180
    assert doc["cache"]["keys"]["transaction"]["hit_rate"] == 0.9
    assert doc["pools"]["primary"] == {"size": 20, "in_use": 18, "waiting": 0, "max": 24,
                                       "utilization": 0.75}
    assert doc["requests"]["total"] == 200
    other.close()
    await exporter.stop()


async def test_l2_alone_counts_its_own_lookups() -> None:
    m = NodeMetrics()
    m.cache_hits.inc(("l2", "address"), 3)
    m.cache_misses.inc(("l2", "address"), 1)
    doc = summarize(await Exporter(m).families())
    assert doc["cache"]["keys"]["address"]["hit_rate"] == 0.75
