"""asyncpg pools as configured from settings, on a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg

from bizra_node.app import pool_options
from bizra_node.observability import NodeMetrics
from bizra_node.settings import cpu_count
from bizra_node.store import PoolOptions
from bizra_node.store.pools import ManagedPool
from tests.conftest import make_settings, tuned
from tests.integration.store.conftest import wait_for


def options(**overrides: object) -> PoolOptions:
    values: dict[str, object] = {"db_pool_max": 4, "db_pool_min": 2}
    values.update(overrides)
    return pool_options(make_settings("http://127.0.0.1:9", **values), tuned(db_idle_timeout=0.3))


def test_pool_formula_defaults() -> None:
    o = pool_options(make_settings("http://127.0.0.1:9"))
    assert o.max_size == min(2 * cpu_count() + 10, 100)
    assert o.min_size == max(cpu_count() // 4, 2) and o.acquire_timeout == 10.0 and o.idle_timeout == 10.0
    assert o.max_queries == 50000 and o.statement_timeout == 30.0 and o.query_timeout == 35.0
    assert o.connect_timeout == 10.0
    assert o.server_settings()["statement_timeout"] == "30000"
    assert "statement_timeout" not in options(db_pgbouncer="session").server_settings()
    assert options(db_pgbouncer="session").session_statements()[0] == "SET statement_timeout = 30000"
    assert options(db_pgbouncer="transaction").session_statements() == []


async def test_connections_carry_the_timeouts(pg_dsn: str) -> None:
    metrics = NodeMetrics()
    pool = await ManagedPool("primary", pg_dsn, options(), metrics).open()
    try:
        rows = await pool.fetch("settings", "SELECT current_setting('statement_timeout'), "
                                "current_setting('idle_in_transaction_session_timeout'), "
                                "current_setting('application_name')")
        assert tuple(rows[0]) == ("30s", "30s", "bizra-node")
        assert metrics.db_query_latency.count(("primary", "settings")) == 1
        assert metrics.db_pool_max.get(("primary",)) == 4
    finally:
        await pool.close()


async def test_waiting_acquires_are_counted(pg_dsn: str) -> None:
    metrics = NodeMetrics()
    pool = await ManagedPool("primary", pg_dsn, options(), metrics).open()
    gate = asyncio.Event()

    async def hold() -> None:
        async with pool.acquire():
            await gate.wait()

    try:
        tasks = [asyncio.create_task(hold()) for _ in range(6)]
        await wait_for(lambda: pool.figures()["waiting"] == 2)
        f = pool.figures()
        assert (f["size"], f["inUse"], f["max"]) == (4, 4, 4)
        pool.sample()
        assert metrics.db_pool_waiting.get(("primary",)) == 2
        assert metrics.db_pool_in_use.get(("primary",)) == 4
        gate.set()
        await asyncio.gather(*tasks)
        assert pool.figures()["waiting"] == 0
    finally:
        await pool.close()


async def test_idle_connections_go_but_the_floor_stays(pg_dsn: str) -> None:
    """Idle connections above min are closed after Tuning.db_idle_timeout; connections lost
    below min (here: killed by the server) are opened again."""
    pool = await ManagedPool("primary", pg_dsn, options(), NodeMetrics()).open()
    try:
        held = [await pool.pool.acquire() for _ in range(4)]
        for conn in held:
            await pool.pool.release(conn)
        assert pool.figures()["size"] == 4
        await wait_for(lambda: pool.figures()["size"] == 2)

        admin = await asyncpg.connect(pg_dsn)
        ours = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'bizra-node' "
                "AND datname = current_database()")
        try:
            killed = {r["pid"] for r in await admin.fetch(ours)}
            assert len(killed) == 2
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE pid = ANY($1::int[])", list(killed))

            async def replaced() -> bool:
                now = {r["pid"] for r in await admin.fetch(ours)}
                return len(now) == 2 and not now & killed

            await wait_for(replaced)
        finally:
            await admin.close()
        assert pool.figures()["size"] == 2
        assert await pool.fetchval("probe", "SELECT 1") == 1
        assert await pool.refill() == 0  # at the floor: nothing to do
    finally:
        await pool.close()
