"""The store as the node sees it: one object to start, record into, read from, stop.

start(): the writer first (records are accepted from the first request on, spooled
until the database is reached), then the database: embedded PostgreSQL when no
DATABASE_URL is set, migrations and partitions under advisory locks, the primary
pool, replicas, the monitor. If PostgreSQL cannot be reached at start, the node
starts anyway and keeps trying in the background: the request path never depends
on the database.

stop(): flush the write-behind queue, then close the monitor, replicas and pools.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from ..observability import NodeMetrics
from ..resilience import Periodic
from .api_keys import KeyRepository
from .config import StoreConfig
from .embedded import EmbeddedPostgres
from .history import HistoryReader
from .migrate import migrate
from .monitor import DatabaseMonitor
from .partitions import ensure_partitions
from .pools import ManagedPool, PoolOptions, connect
from .reorgs import mark_reorged
from .replicas import ReplicaRouter
from .spool import Spool
from .writer import WriteBehind

__all__ = ["Store", "connect_once", "describe", "run_migrations"]

log = logging.getLogger("bizra_node.store")

_HOUSEKEEPING_EVERY = 3600.0
_RETRY_MIN, _RETRY_MAX = 0.5, 30.0
_MARK_WAIT = 10.0
"""Seconds a reorg's second marking waits for the write-behind queue to drain."""


def describe(exc: BaseException) -> str:
    """An exception as a log line names it: its type and its message (asyncpg's
    messages name the server, database, role or statement, never a password)."""
    text = str(exc).strip().replace("\n", " ")[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def connect_once(dsn: str, options: PoolOptions) -> asyncpg.Connection:
    """A single connection outside the pools (migrations, housekeeping, the `keys`
    command), made as the pools make theirs (``pools.connect``)."""
    conn, _ = await connect(dsn, options)
    return conn


async def run_migrations(dsn: str, options: PoolOptions, partitions_ahead: int) -> dict[str, Any]:
    conn = await connect_once(dsn, options)
    try:
        applied = await migrate(conn)
        created = await ensure_partitions(conn, partitions_ahead)
    finally:
        await conn.close()
    return {"applied": applied, "partitions": created}


class Store:
    def __init__(self, config: StoreConfig, metrics: NodeMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.options = config.pool
        self.spool = Spool(Path(config.data_dir) / "spool", config.spool_max_bytes)
        self.writer = WriteBehind(self.spool, metrics, self._primary_pool,
                                  batch_rows=config.batch_rows,
                                  batch_interval=config.batch_interval,
                                  queue_max=config.queue_max, durability=config.durability,
                                  commit_interval=config.commit_interval)
        self.router = (ReplicaRouter(list(config.read_urls), config.replica_pool or config.pool,
                                     metrics, max_lag=config.replica_max_lag,
                                     interval=config.replica_check_interval)
                       if config.read_urls else None)
        self.history = HistoryReader(self._primary_pool, self.router, metrics)
        self.keys = KeyRepository(self._primary_pool)
        """API keys (the key rings' source)."""
        self.monitor = DatabaseMonitor(self._primary_pool, metrics, config.monitor,
                                       config.monitor_interval)
        self.primary: ManagedPool | None = None
        self.dsn = config.database_url
        self._embedded: EmbeddedPostgres | None = None
        self._connector = Periodic("db-connect", self._try_connect, _RETRY_MIN, logger=log)
        """Keeps trying to reach PostgreSQL when it was not reachable at start."""
        self._upkeep = Periodic("db-housekeeping", self._housekeeping, _HOUSEKEEPING_EVERY,
                                logger=log)
        self._started = False

    def _primary_pool(self) -> ManagedPool | None:
        return self.primary

    @property
    def recorder(self) -> Any:
        """The ValidationService recorder (kind, subject, result) -> None, or an
        awaitable to wait on before answering (DURABILITY local and sync)."""
        return self.writer.recorder

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        self._started = True
        self.writer.start()
        if not self.dsn:
            self._embedded = EmbeddedPostgres(self.config.data_dir)
            self.dsn = await asyncio.to_thread(self._embedded.start)
        try:
            await self._connect()
        except Exception as exc:
            log.error("PostgreSQL not usable at start (%s); spooling records and retrying",
                      describe(exc))
            self._connector.start()
        if self.router is not None:
            await self.router.start()
        self.monitor.start()

    async def _connect(self) -> None:
        result = await run_migrations(self.dsn, self.options, self.config.partitions_ahead)
        self.primary = await ManagedPool("primary", self.dsn, self.options, self.metrics).open()
        self.writer.mark_up()
        self._upkeep.start()
        log.info("store ready", extra={"migrations_applied": result["applied"],
                                       "pool_max": self.options.max_size})

    async def _try_connect(self) -> None:
        """One reconnect attempt; backs off (doubling, up to 30 s) until one succeeds."""
        try:
            await self._connect()
        except Exception as exc:
            self._connector.interval = min(self._connector.interval * 2, _RETRY_MAX)
            log.debug("PostgreSQL still not usable: %s", describe(exc))
        else:
            self._connector.finish()

    async def _housekeeping(self) -> None:
        """Keep partitions created ahead as months pass."""
        pool = self.primary
        if pool is None:
            return
        try:
            async with pool.acquire() as conn:
                await ensure_partitions(conn, self.config.partitions_ahead)
        except Exception as exc:
            log.warning("partition upkeep failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.writer.stop(timeout=self.options.query_timeout)
        await self._connector.stop()
        await self._upkeep.stop()
        await self.monitor.stop()
        if self.router is not None:
            await self.router.close()
        if self.primary is not None:
            pool, self.primary = self.primary, None
            await pool.close()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)
            self._embedded = None

    # --- reorgs -----------------------------------------------------------------------
    async def mark_reorged(self, network_id: int, fork: int,
                           replaced: Sequence[tuple[int, bytes, bytes | None]]) -> int:
        """Mark the validations of blocks a reorg replaced (see reorgs.py): once now, and
        once more when the write-behind queue has drained (records of the replaced
        blocks still queued when the reorg was seen; at most ``_MARK_WAIT`` s later).
        Returns the rows marked; 0 when the database cannot be reached (the marks are
        lost, said at warning level; records spooled during an outage are not marked)."""
        marked = await self._mark(network_id, fork, replaced)
        if marked < 0:
            return 0
        deadline = time.monotonic() + _MARK_WAIT
        while self.writer.depth and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.05)  # a batch taken off the queue is still being written
        return marked + max(await self._mark(network_id, fork, replaced), 0)

    async def _mark(self, network_id: int, fork: int,
                    replaced: Sequence[tuple[int, bytes, bytes | None]]) -> int:
        pool = self.primary
        if pool is None:
            log.warning("reorg above block %d not marked in the records: no database", fork)
            return -1
        try:
            return await mark_reorged(pool, network_id, fork, replaced)
        except Exception as exc:
            log.warning("reorg above block %d not marked in the records: %s", fork,
                        describe(exc))
            return -1

    # --- readiness -------------------------------------------------------------------
    async def ready(self) -> dict[str, Any]:
        """Primary reachable, or records safely spooled meanwhile (degraded: still ready,
        since answering clients never waits on the database)."""
        reachable = False
        pool = self.primary
        if pool is not None:
            try:
                async with asyncio.timeout(2.0):
                    reachable = await pool.fetchval("ping", "SELECT 1") == 1
            except Exception:
                reachable = False
        degraded = not reachable or not self.writer.db_ok
        out: dict[str, Any] = {
            "ok": reachable or self.writer.spool_writable,
            "primary": "reachable" if reachable else "unreachable",
            "mode": "spool" if degraded else "direct",
            "durability": self.writer.durability,
            "queue": self.writer.depth,
            "spoolBytes": self.spool.bytes,
            "pool": pool.figures() if pool is not None else None,
        }
        if self.router is not None:
            out["replicas"] = self.router.status()
        return out

    def figures(self) -> dict[str, Any]:
        """Pool figures for /api/metrics."""
        pools: dict[str, Any] = {}
        if self.primary is not None:
            pools["primary"] = self.primary.figures()
        if self.router is not None:
            for r in self.router.replicas:
                if r.pool is not None:
                    pools[r.pool.name] = r.pool.figures()
        return {"pools": pools, "queue": self.writer.depth, "spoolBytes": self.spool.bytes}
