"""asyncpg pools with server-side timeouts and bounded lifetimes, with figures for metrics.

One ``ManagedPool`` per server (the primary, each replica). Every connection gets the
server-side timeouts (statement_timeout, idle_in_transaction_session_timeout), the
client-side command timeout and connect timeout, and a jsonb codec that passes raw
JSON bytes both ways: results are encoded once with msgspec when written and spliced
into answers as they are when read, never decoded into Python objects.

Through PgBouncer the server settings cannot travel as startup parameters (PgBouncer
refuses unknown ones): in session mode they are SET on each new connection and again
after each release's RESET ALL; in
transaction mode nothing session-level survives, so the prepared statement cache is
off and the timeouts belong on the role (``ALTER ROLE ... SET statement_timeout``).
``auto`` (DB_PGBOUNCER's default) connects as to PostgreSQL, and when the server
refuses the startup parameters (PgBouncer's "unsupported startup parameter"), again as
in transaction mode, which is safe in either PgBouncer mode (``connect``): the node
and every command reach the same address the same way without being told.

asyncpg before 0.32 closed idle connections below ``min_size`` and never opened them
again; 0.32 keeps a floor of its own. The maintenance task here samples the pool
figures every second and, whatever the version, tops the pool back up to
``min_size`` when it finds it below.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..observability import NodeMetrics
from ..resilience import Periodic

__all__ = ["ManagedPool", "PoolOptions", "connect"]

log = logging.getLogger("bizra_node.store")

_MAINTAIN_EVERY = 1.0


def _jsonb_encode(value: bytes | str) -> bytes:
    """jsonb binary format: a version byte (1) then the JSON text."""
    return b"\x01" + (value.encode() if isinstance(value, str) else value)


def _jsonb_decode(data: bytes) -> bytes:
    return data[1:]


@dataclass(frozen=True, slots=True)
class PoolOptions:
    min_size: int
    max_size: int
    acquire_timeout: float
    idle_timeout: float
    max_queries: int
    statement_timeout: float
    idle_in_transaction_timeout: float
    query_timeout: float
    connect_timeout: float
    pgbouncer: str = "auto"
    """auto | off | session | transaction: how the server is reached (auto: as off,
    unless it refuses startup parameters, then as transaction; ``connect``)."""

    def server_settings(self) -> dict[str, str]:
        """Startup parameters; PgBouncer accepts application_name only."""
        out = {"application_name": "bizra-node"}
        if self.pgbouncer in ("off", "auto"):
            out.update(self._timeouts())
        return out

    @property
    def statement_cache_size(self) -> int:
        """asyncpg's prepared statements per connection (none through a transaction-mode
        PgBouncer, where the next statement may run on another server connection)."""
        return 0 if self.pgbouncer == "transaction" else 100

    def _timeouts(self) -> dict[str, str]:
        return {"statement_timeout": str(int(self.statement_timeout * 1000)),
                "idle_in_transaction_session_timeout":
                    str(int(self.idle_in_transaction_timeout * 1000))}

    def session_statements(self) -> list[str]:
        """SETs run on each new connection (PgBouncer session mode only)."""
        if self.pgbouncer != "session":
            return []
        return [f"SET {k} = {v}" for k, v in self._timeouts().items()]

    def reset_query(self) -> str | None:
        """What a released connection runs. asyncpg's own reset ends in RESET ALL,
        which would undo the session SETs; in session mode they follow it."""
        statements = self.session_statements()
        if not statements:
            return None
        return "; ".join(["SELECT pg_advisory_unlock_all()", "CLOSE ALL", "UNLISTEN *",
                          "RESET ALL", *statements])


def _refused_startup_parameters(exc: BaseException) -> bool:
    """PgBouncer's answer to startup parameters it does not pass on."""
    return "unsupported startup parameter" in str(exc)


async def connect(dsn: str, options: PoolOptions) -> tuple[asyncpg.Connection, PoolOptions]:
    """One connection, and the options it was made with: DB_PGBOUNCER=auto resolved to
    off, or to transaction when the server is a PgBouncer (it refused the timeouts as
    startup parameters)."""
    resolved = dataclasses.replace(options, pgbouncer="off") \
        if options.pgbouncer == "auto" else options
    try:
        return await _connect(dsn, resolved), resolved
    except asyncpg.PostgresError as exc:
        if options.pgbouncer != "auto" or not _refused_startup_parameters(exc):
            raise
    resolved = dataclasses.replace(options, pgbouncer="transaction")
    return await _connect(dsn, resolved), resolved


async def _connect(dsn: str, options: PoolOptions) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, timeout=options.connect_timeout,
                                 command_timeout=options.query_timeout,
                                 server_settings=options.server_settings(),
                                 statement_cache_size=options.statement_cache_size)
    try:
        for sql in options.session_statements():
            await conn.execute(sql)
    except BaseException:
        await conn.close()
        raise
    return conn


class ManagedPool:
    """An asyncpg pool with timing, waiting count, gauges and a floor keeper."""

    def __init__(self, name: str, dsn: str, options: PoolOptions, metrics: NodeMetrics) -> None:
        self.name = name
        self.dsn = dsn
        self.options = options
        self._metrics = metrics
        self._labels = (name,)
        self._pool: asyncpg.Pool | None = None
        self._waiting = 0
        self._keeper = Periodic(f"pool-{name}", self._maintain, _MAINTAIN_EVERY, logger=log)

    # --- lifecycle -------------------------------------------------------------------
    async def open(self) -> ManagedPool:
        if self.options.pgbouncer == "auto":
            conn, self.options = await connect(self.dsn, self.options)
            await conn.close()
            if self.options.pgbouncer == "transaction":
                log.warning(f"database ({self.name}): the server refused the timeouts as "
                            "startup parameters, so it is a PgBouncer: connecting as with "
                            "DB_PGBOUNCER=transaction (statement timeouts from the role); set "
                            "DB_PGBOUNCER=session or transaction to say which")
        o = self.options
        statements = o.session_statements()

        async def init(conn: asyncpg.Connection) -> None:
            await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                                      encoder=_jsonb_encode, decoder=_jsonb_decode)
            for sql in statements:
                await conn.execute(sql)

        reset_sql = o.reset_query()
        extra: dict[str, Any] = {}
        if reset_sql is not None:
            async def reset(conn: asyncpg.Connection) -> None:
                await conn.execute(reset_sql)

            extra["reset"] = reset

        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=o.min_size, max_size=o.max_size, max_queries=o.max_queries,
            max_inactive_connection_lifetime=o.idle_timeout, init=init,
            command_timeout=o.query_timeout, timeout=o.connect_timeout,
            server_settings=o.server_settings(), statement_cache_size=o.statement_cache_size,
            **extra)
        self._metrics.db_pool_max.set(o.max_size, self._labels)
        self.sample()
        self._keeper.start()
        return self

    async def close(self) -> None:
        await self._keeper.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=self.options.query_timeout)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()
        self._metrics.db_pool_size.set(0, self._labels)
        self._metrics.db_pool_in_use.set(0, self._labels)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"pool {self.name} is not open")
        return self._pool

    # --- figures ---------------------------------------------------------------------
    def figures(self) -> dict[str, int]:
        pool = self._pool
        if pool is None:
            return {"size": 0, "inUse": 0, "waiting": self._waiting,
                    "max": self.options.max_size, "min": self.options.min_size}
        size = pool.get_size()
        return {"size": size, "inUse": size - pool.get_idle_size(), "waiting": self._waiting,
                "max": self.options.max_size, "min": self.options.min_size}

    def sample(self) -> None:
        f = self.figures()
        self._metrics.db_pool_size.set(f["size"], self._labels)
        self._metrics.db_pool_in_use.set(f["inUse"], self._labels)
        self._metrics.db_pool_waiting.set(f["waiting"], self._labels)

    async def _maintain(self) -> None:
        self.sample()
        try:
            await self.refill()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.debug("pool %s: refill failed: %s", self.name, type(exc).__name__)

    async def refill(self) -> int:
        """Open connections until the pool holds ``min_size``; returns how many opened.

        Holding ``min_size`` connections at once makes the pool connect the holders that
        lost theirs (a held holder is always connected); released, they stay open."""
        pool = self._pool
        if pool is None or pool.get_size() >= self.options.min_size:
            return 0
        before = pool.get_size()
        held: list[Any] = []
        try:
            for _ in range(self.options.min_size):
                held.append(await pool.acquire(timeout=self.options.connect_timeout))
        finally:
            for conn in held:
                await pool.release(conn)
        opened = max(int(pool.get_size()) - int(before), 0)
        if opened:
            self._metrics.db_pool_refills.inc(self._labels, opened)
        self.sample()
        return opened

    # --- use -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection within DB_ACQUIRE_TIMEOUT; waiting acquires are counted."""
        pool = self.pool
        self._waiting += 1
        try:
            conn = await pool.acquire(timeout=self.options.acquire_timeout)
        finally:
            self._waiting -= 1
        try:
            yield conn
        finally:
            await pool.release(conn)

    def _observe(self, query: str, start: float) -> None:
        self._metrics.db_query_latency.observe(time.perf_counter() - start, (self.name, query))

    async def fetch(self, query: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run ``sql``; ``query`` names it for the latency histogram (bounded label)."""
        start = time.perf_counter()
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        self._observe(query, start)
        return rows

    async def fetchval(self, query: str, sql: str, *args: Any) -> Any:
        start = time.perf_counter()
        async with self.acquire() as conn:
            value = await conn.fetchval(sql, *args)
        self._observe(query, start)
        return value

    async def execute(self, query: str, sql: str, *args: Any) -> str:
        start = time.perf_counter()
        async with self.acquire() as conn:
            status: str = await conn.execute(sql, *args)
        self._observe(query, start)
        return status

    def observe(self, query: str, seconds: float) -> None:
        """For callers timing work done on a connection of their own."""
        self._metrics.db_query_latency.observe(seconds, (self.name, query))
