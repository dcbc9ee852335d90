"""Read replicas: a real hot standby made with pg_basebackup from a primary cluster the
test creates. Reads go to the standby while it is well; pausing its replay (lag) or
stopping it sends them to the primary, and they come back when it recovers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bizra_node.app import store_config
from bizra_node.history import HistoryQuery
from bizra_node.observability import NodeMetrics
from bizra_node.store import Store
from tests.integration.store.conftest import result, store_settings, subject, wait_for
from tests.support.postgres import PgCluster


@pytest.fixture
def standby(own_cluster: PgCluster) -> Iterator[PgCluster]:
    replica = own_cluster.make_replica().start()
    try:
        yield replica
    finally:
        replica.destroy()


async def replica_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('validations') IS NOT NULL"):
            return -1
        return int(await conn.fetchval("SELECT count(*) FROM validations"))
    finally:
        await conn.close()


async def replicated(standby: PgCluster, rows: int) -> bool:
    return await replica_rows(standby.dsn()) == rows


async def on_standby(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.slow
async def test_reads_follow_replica_health(own_cluster: PgCluster, standby: PgCluster,
                                           tmp_path: Path) -> None:
    settings = store_settings(own_cluster.dsn(), tmp_path, db_read_urls=standby.dsn(),
                              db_replica_check_interval=0.2, db_replica_max_lag=1.0,
                              db_connect_timeout=2.0)
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    m = store.metrics
    assert store.router is not None
    replica = store.router.replicas[0]
    try:
        for i in range(20):
            store.recorder("transaction", subject(i), result(i))
        await wait_for(lambda: m.write_records.get(("written",)) == 20)
        await wait_for(lambda: replicated(standby, 20), timeout=30)
        await wait_for(lambda: replica.healthy)

        report = await store.monitor.collect()
        assert report is not None and len(report.replication) == 1
        assert m.db_replication_lag_bytes.get((report.replication[0]["name"],)) >= 0
        page = await store.history.query(HistoryQuery(limit=100))
        assert len(page.items) == 20
        assert m.db_reads.get(("replica",)) == 1 and m.db_reads.get(("primary",)) == 0

        # Lag: the standby receives WAL but does not replay it.
        await on_standby(standby.dsn(), "SELECT pg_wal_replay_pause()")
        for i in range(20, 30):
            store.recorder("transaction", subject(i), result(i))
        await wait_for(lambda: m.write_records.get(("written",)) == 30)
        await wait_for(lambda: not replica.healthy, timeout=30)
        assert replica.error is not None and replica.error.startswith("lag")
        page = await store.history.query(HistoryQuery(limit=100))
        assert len(page.items) == 30  # the primary has them all
        assert m.db_reads.get(("primary",)) == 1

        await on_standby(standby.dsn(), "SELECT pg_wal_replay_resume()")
        await wait_for(lambda: replica.healthy, timeout=30)
        await wait_for(lambda: replicated(standby, 30), timeout=30)
        await store.history.query(HistoryQuery(limit=5))
        assert m.db_reads.get(("replica",)) == 2

        # Down: the standby stops; reads go to the primary.
        await asyncio.to_thread(standby.stop, "immediate")
        await wait_for(lambda: not replica.healthy, timeout=30)
        page = await store.history.query(HistoryQuery(limit=100))
        assert len(page.items) == 30
        assert m.db_reads.get(("primary",)) == 2
        status = (await store.ready())["replicas"][0]
        assert status["healthy"] is False
    finally:
        await store.stop()
