"""Read replicas: one pool each, checked every DB_REPLICA_CHECK_INTERVAL.

A replica serves reads while it answers and its replay lag stays within
DB_REPLICA_MAX_LAG. Lag is measured on the replica: zero when it has replayed all the
WAL it received, else the age of the last transaction it replayed (the usual standby
formula; it overstates lag on an idle primary only while WAL is pending). A replica
that fails a read is taken out at once, until the next check finds it well. With no
replica left, reads go to the primary.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..observability import NodeMetrics
from ..resilience import Periodic
from .pools import ManagedPool, PoolOptions

__all__ = ["Replica", "ReplicaRouter", "replica_label"]

log = logging.getLogger("bizra_node.store")

_LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() IS NOT NULL
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9)
       END::float8
"""


def replica_label(url: str, index: int) -> str:
    """A metric label for a replica: host:port (bounded by configuration), no secrets."""
    parts = urlsplit(url)
    host = parts.hostname or "local"
    return f"{host}:{parts.port or 5432}" if parts.hostname else f"replica{index}"


@dataclass
class Replica:
    name: str
    url: str
    pool: ManagedPool | None = None
    healthy: bool = False
    lag: float | None = None
    error: str | None = None
    checks: int = field(default=0)


class ReplicaRouter:
    def __init__(self, urls: list[str], options: PoolOptions, metrics: NodeMetrics, *,
                 max_lag: float, interval: float) -> None:
        self._options = options
        self._metrics = metrics
        self.max_lag = max_lag
        self.interval = interval
        self.replicas = [Replica(replica_label(u, i), u) for i, u in enumerate(urls)]
        for r in self.replicas:  # exported before the first check: not serving, lag 0
            metrics.replica_healthy.preset((r.name,))
            metrics.replica_lag.preset((r.name,))
        self._next = 0
        self._checks = Periodic("replica-check", self.check_all, interval, logger=log)

    async def start(self) -> None:
        await self.check_all()
        self._checks.start()

    async def close(self) -> None:
        await self._checks.stop()
        for r in self.replicas:
            if r.pool is not None:
                await r.pool.close()
                r.pool = None

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, r: Replica) -> None:
        r.checks += 1
        try:
            if r.pool is None:
                r.pool = await ManagedPool(f"replica:{r.name}", r.url, self._options,
                                           self._metrics).open()
            async with asyncio.timeout(self._options.connect_timeout):
                row = await r.pool.fetch("replica_lag", _LAG_SQL)
            r.lag = float(row[0][1])
            r.error = None if r.lag <= self.max_lag else f"lag {r.lag:.1f}s"
        except Exception as exc:  # any failure takes the replica out until the next check
            r.lag = None
            r.error = type(exc).__name__
            if r.pool is not None and not isinstance(exc, TimeoutError):
                await r.pool.close()
                r.pool = None
        was = r.healthy
        r.healthy = r.error is None
        self._metrics.replica_healthy.set(1 if r.healthy else 0, (r.name,))
        if r.lag is not None:
            self._metrics.replica_lag.set(r.lag, (r.name,))
        if was != r.healthy:
            if r.healthy:
                log.info("replica back in rotation", extra={"replica": r.name})
            else:
                log.warning("replica skipped: %s", r.error, extra={"replica": r.name})

    def pick(self) -> Replica | None:
        """A healthy replica (round robin), or None: read from the primary."""
        n = len(self.replicas)
        for i in range(n):
            r = self.replicas[(self._next + i) % n]
            if r.healthy and r.pool is not None:
                self._next = (self._next + i + 1) % n
                return r
        return None

    def mark_failed(self, r: Replica, exc: BaseException) -> None:
        if r.healthy:
            log.warning("replica read failed (%s); skipped until next check",
                        type(exc).__name__, extra={"replica": r.name})
        r.healthy = False
        r.error = type(exc).__name__
        self._metrics.replica_healthy.set(0, (r.name,))

    def status(self) -> list[dict[str, object]]:
        return [{"name": r.name, "healthy": r.healthy, "lag": r.lag, "error": r.error}
                for r in self.replicas]
