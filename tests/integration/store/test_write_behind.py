"""Write-behind on a real PostgreSQL: records land, shutdown flushes, an outage is
spooled and replayed exactly once when the server (a cluster of the test's own) is
stopped and started again, and a full queue spools instead of dropping."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import httpx
import pytest

from bizra_node.app import store_config
from bizra_node.observability import NodeMetrics
from bizra_node.store import Spool, Store
from bizra_node.store.records import make_record
from tests.conftest import Devnet, running_node
from tests.integration.store.conftest import result, store_settings, subject, wait_for
from tests.support.postgres import PgCluster
from tests.support.spool import read_frames


async def count_rows(dsn: str) -> tuple[int, int]:
    """(rows, distinct subjects) in validations."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT count(*), count(DISTINCT subject) FROM validations")
        return int(row[0]), int(row[1])
    finally:
        await conn.close()


async def test_validations_through_the_api_are_recorded(devnet: Devnet, pg_dsn: str,
                                                        tmp_path: Path) -> None:
    settings = store_settings(pg_dsn, tmp_path, devnet.url)
    async with running_node(settings) as (node, client):
        for tx in (devnet.manifest.legacy_tx, devnet.manifest.eip1559_tx):
            resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
            assert resp.status_code == 200
        resp = await client.post("/api/v1/validate/block", json={"blockNumber": 1})
        assert resp.status_code == 200
        await wait_for(lambda: node.metrics.write_records.get(("written",)) >= 3)
        ready = (await client.get("/ready")).json()["data"]["checks"]["database"]
        assert ready["ok"] is True and ready["mode"] == "direct"
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT kind, subject, valid, status, block_number, result "
                                "FROM validations ORDER BY kind, subject")
    finally:
        await conn.close()
    by_subject = {r["subject"]: r for r in rows}
    tx = by_subject[devnet.manifest.legacy_tx]
    assert tx["kind"] == "transaction" and tx["valid"] is True and tx["status"] == "confirmed"
    assert tx["block_number"] is not None
    assert json.loads(tx["result"])["data"]["hash"] == devnet.manifest.legacy_tx
    assert by_subject["1"]["kind"] == "block" and by_subject["1"]["block_number"] == 1


async def test_shutdown_flushes_the_queue(pg_dsn: str, tmp_path: Path) -> None:
    # A batch window far longer than the test: only stop() can write these.
    settings = store_settings(pg_dsn, tmp_path, write_batch_interval=3600.0,
                              write_batch_rows=100000, durability="async")
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    for i in range(2500):
        store.recorder("transaction", subject(i), result(i))
    assert store.writer.depth == 2500
    await store.stop()
    assert await count_rows(pg_dsn) == (2500, 2500)
    assert store.metrics.write_records.get(("written",)) == 2500


@pytest.mark.slow
async def test_every_record_lands_once_across_a_server_restart(own_cluster: PgCluster,
                                                               tmp_path: Path) -> None:
    dsn = await own_cluster.create_database("bizra")
    settings = store_settings(dsn, tmp_path, write_batch_rows=50, db_connect_timeout=2.0,
                              db_acquire_timeout=2.0, db_query_timeout=5.0)
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    m = store.metrics
    n = 0

    def produce(count: int) -> None:
        nonlocal n
        for _ in range(count):
            store.recorder("transaction", subject(n), result(n))
            n += 1

    produce(300)
    await wait_for(lambda: m.write_records.get(("written",)) == 300)

    await asyncio.to_thread(own_cluster.stop, "fast")
    # Records keep coming while the server is down, in several batches.
    for _ in range(10):
        produce(100)
        await asyncio.sleep(0.05)
    await wait_for(lambda: store.writer.depth == 0 and not store.writer.db_ok)
    await wait_for(lambda: m.write_records.get(("spooled",)) >= 1)
    assert store.spool.bytes > 0

    await asyncio.to_thread(own_cluster.start)
    produce(200)
    await wait_for(lambda: store.spool.bytes == 0 and store.writer.db_ok, timeout=60)
    await wait_for(lambda: m.write_records.get(("written",)) + m.write_records.get(("replayed",))
                   >= n, timeout=30)
    await store.stop()

    assert n == 1500
    rows, distinct = await count_rows(dsn)
    assert (rows, distinct) == (n, n), "every record exactly once"
    assert m.write_records.get(("written",)) + m.write_records.get(("replayed",)) == n
    assert not list((tmp_path / "spool").glob("spool-*.bin"))


async def test_replaying_a_spool_twice_keeps_each_record_once(pg_dsn: str,
                                                              tmp_path: Path) -> None:
    """A crash between a replay's commit and the spool file's removal replays it again."""
    settings = store_settings(pg_dsn, tmp_path)
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    # A spool left by another process (a worker that died while PostgreSQL was down).
    other = Spool(tmp_path / "spool", 1 << 30)
    other.append([make_record("address", subject(i), result(i)) for i in range(120)])
    other.seal()
    spool_file = next((tmp_path / "spool").glob("spool-*.bin"))
    copy = spool_file.read_bytes()
    assert await store.writer.replay(primary_pool(store)) == 120
    assert not spool_file.exists()
    spool_file.write_bytes(copy)  # the file comes back, as if the unlink never happened
    assert await store.writer.replay(primary_pool(store)) == 0
    assert store.metrics.write_records.get(("duplicate",)) == 120
    await store.stop()
    assert await count_rows(pg_dsn) == (120, 120)


def primary_pool(store: Store):  # type: ignore[no-untyped-def]
    assert store.primary is not None
    return store.primary


async def test_full_queue_spools_instead_of_dropping(pg_dsn: str, tmp_path: Path) -> None:
    settings = store_settings(pg_dsn, tmp_path, write_queue_max=10, write_batch_rows=1000,
                              write_batch_interval=3600.0, durability="async")
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    for i in range(25):
        store.recorder("transaction", subject(i), result(i))
    m = store.metrics
    assert store.writer.depth == 10
    assert m.write_records.get(("overflow_spooled",)) == 15
    frames = read_frames(next((tmp_path / "spool").glob("spool-*.bin")))
    assert sum(len(f) for f in frames) == 15
    await store.writer.replay(primary_pool(store))
    await store.stop()
    assert await count_rows(pg_dsn) == (25, 25)


async def test_node_starts_with_the_database_down_and_catches_up(own_cluster: PgCluster,
                                                                 tmp_path: Path) -> None:
    dsn = await own_cluster.create_database("late")
    await asyncio.to_thread(own_cluster.stop, "fast")
    settings = store_settings(dsn, tmp_path, db_connect_timeout=1.0)
    async with running_node(settings) as (node, client):
        assert node.store is not None
        ready = (await client.get("/ready")).json()["data"]["checks"]["database"]
        assert ready["ok"] is True and ready["mode"] == "spool"
        assert ready["primary"] == "unreachable"
        for i in range(40):
            node.store.recorder("transaction", subject(i), result(i))
        await wait_for(lambda: node.metrics.write_records.get(("spooled",)) == 40)
        resp = await client.get("/api/v1/validations")
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        await asyncio.to_thread(own_cluster.start)
        await wait_for(lambda: node.metrics.write_records.get(("replayed",)) == 40, timeout=60)
        resp = await client.get("/api/v1/validations", params={"limit": 100})
        assert resp.status_code == 200
        assert len(resp.json()["data"]["items"]) == 40
    assert await count_rows(dsn) == (40, 40)


async def _unused(client: httpx.AsyncClient) -> None:  # keeps httpx import honest for typing
    await client.aclose()
