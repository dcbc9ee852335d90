"""The database monitor on a real PostgreSQL (with pg_stat_statements loaded)."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from bizra_node.app import pool_options
from bizra_node.observability import NodeMetrics
from bizra_node.store import MonitorThresholds
from bizra_node.store.monitor import DatabaseMonitor
from bizra_node.store.pools import ManagedPool
from tests.conftest import make_settings


async def test_monitor_reports_and_warns(pg_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        preloaded = "pg_stat_statements" in await conn.fetchval(
            "SELECT current_setting('shared_preload_libraries')")
        if preloaded:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_sleep(0.05)")
    finally:
        await conn.close()
    metrics = NodeMetrics()
    options = pool_options(make_settings("http://127.0.0.1:9", db_pool_max=2,
                                                      db_pool_min=1))
    pool = await ManagedPool("primary", pg_dsn, options, metrics).open()
    # Thresholds set to be crossed: every check must warn.
    thresholds = MonitorThresholds(slow_statement_ms=10.0, min_hit_ratio=1.01,
                                   max_connection_use=0.0001, max_replication_lag=0.0)
    monitor = DatabaseMonitor(lambda: pool, metrics, thresholds, interval=3600)
    try:
        with caplog.at_level(logging.WARNING, logger="bizra_node.store"):
            report = await monitor.collect()
        assert report is not None
        assert report.connections.get("active", 0) >= 1
        assert report.max_connections >= 10
        assert report.hit_ratio is not None and 0 < report.hit_ratio <= 1
        assert metrics.db_cache_hit_ratio.get() == report.hit_ratio
        assert metrics.db_connections.get(("active",)) >= 1
        assert "connections" in report.warnings and "cache_hit_ratio" in report.warnings
        assert metrics.db_monitor_warnings.get(("connections",)) == 1
        if preloaded:
            assert report.slow_statements is not None and report.slow_statements >= 1
            assert "slow_statements" in report.warnings
            assert metrics.db_slowest_statement_ms.get() >= 10
        assert any("cache hit ratio low" in r.getMessage() for r in caplog.records)
        # the loop runs collect() and survives a failing round
        monitor.start()
        await monitor.stop()
    finally:
        await pool.close()
    assert await DatabaseMonitor(lambda: None, metrics, thresholds, 1).collect() is None
