"""Monthly partitions of ``validations``, created ahead of time.

A month's partition is made before records for it arrive. If the DEFAULT partition
already holds rows of that month (the node was down over a month boundary, or a
skewed clock), they are moved into the new partition in the same transaction, since
PostgreSQL refuses a partition whose range the DEFAULT partition still holds rows of.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

__all__ = ["PARTITION_LOCK", "ensure_partitions", "month_start", "partition_name"]

log = logging.getLogger("bizra_node.store")

PARTITION_LOCK = 0x62697A72_61000002

_EXISTS = ("SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 "
           "AND relnamespace = current_schema()::regnamespace)")
"""Whether a table exists, read from pg_class with the statement's snapshot. Not
``to_regclass``: that reads the catalog caches, which a transaction does not refresh
when it is granted an advisory lock, so a node that waited for another one's partition
still saw none and failed with DuplicateTableError (two workers on a new database)."""


def month_start(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"validations_p{start.year:04d}{start.month:02d}"


async def ensure_partitions(conn: asyncpg.Connection, ahead: int,
                            now: datetime | None = None) -> list[str]:
    """Make sure partitions exist from this month to ``ahead`` months on; returns the
    names created now."""
    now = now or datetime.now(UTC)
    created: list[str] = []
    for i in range(ahead + 1):
        start = month_start(now.year, now.month + i)
        end = month_start(now.year, now.month + i + 1)
        name = partition_name(start)
        if await conn.fetchval(_EXISTS, name):
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
            if await conn.fetchval(_EXISTS, name):
                continue
            stray = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM validations_default "
                "WHERE validated_at >= $1 AND validated_at < $2)", start, end)
            bounds = f"FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            if not stray:
                await conn.execute(f"CREATE TABLE {name} PARTITION OF validations "
                                   f"FOR VALUES {bounds}")
            else:
                await conn.execute(f"CREATE TABLE {name} (LIKE validations INCLUDING DEFAULTS)")
                moved = await conn.execute(
                    f"WITH moved AS (DELETE FROM validations_default WHERE validated_at >= $1 "
                    f"AND validated_at < $2 RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                    start, end)
                await conn.execute(f"ALTER TABLE validations ATTACH PARTITION {name} "
                                   f"FOR VALUES {bounds}")
                log.info("moved rows out of the default partition",
                         extra={"partition": name, "status": moved})
        created.append(name)
    if created:
        log.info("partitions created", extra={"partitions": created})
    return created
