"""Migrations and partitions on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from bizra_node.store.migrate import Migration, MigrationError, load_migrations, migrate
from bizra_node.store.partitions import ensure_partitions, partition_name


async def test_migrations_apply_once_even_when_nodes_start_together(pg_dsn: str) -> None:
    conns = [await asyncpg.connect(pg_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        versions = [m.version for m in load_migrations()]
        assert sorted(v for r in results for v in r) == versions  # applied exactly once
        assert await migrate(conns[0]) == []
        rows = await conns[0].fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [r["version"] for r in rows] == versions
        part = await conns[0].fetchval(
            "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'validations'::regclass")
        part = part.decode() if isinstance(part, bytes) else part
        assert part == "r"
    finally:
        for c in conns:
            await c.close()


async def test_an_edited_migration_is_refused(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await migrate(conn)
        first = load_migrations()[0]
        edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, [edited])
        extra = Migration(9999, "extra", "CREATE TABLE extra_t (x int)")
        assert await migrate(conn, [first, extra]) == [9999]
    finally:
        await conn.close()


async def test_partitions_ahead_and_rows_moved_out_of_default(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await migrate(conn)
        now = datetime(2031, 11, 15, tzinfo=UTC)
        # a row for December 2031 arrives before its partition exists: DEFAULT keeps it
        await conn.execute(
            "INSERT INTO validations VALUES ($1, 'block', '1', 1, true, NULL, 1, '{}', $2)",
            uuid.uuid4(), datetime(2031, 12, 24, tzinfo=UTC))
        created = await ensure_partitions(conn, 2, now=now)
        assert created == ["validations_p203111", "validations_p203112", "validations_p203201"]
        assert await ensure_partitions(conn, 2, now=now) == []
        assert await conn.fetchval("SELECT count(*) FROM validations_default") == 0
        assert await conn.fetchval("SELECT count(*) FROM validations_p203112") == 1
        assert await conn.fetchval("SELECT count(*) FROM validations") == 1
        # the moved partition got the parent's indexes when attached
        idx = await conn.fetchval("SELECT count(*) FROM pg_indexes "
                                  "WHERE tablename = 'validations_p203112'")
        assert idx == 7  # 0001-0002: 5; 0003: block numbers, reorged
        assert partition_name(datetime(2031, 1, 1, tzinfo=UTC)) == "validations_p203101"
    finally:
        await conn.close()
