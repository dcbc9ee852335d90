"""Database monitor: every minute (Tuning.db_monitor_interval), a look at the primary.

Slow statements (pg_stat_statements when the extension is installed in this
database), connections by state, the buffer cache hit ratio, and each standby's
replay lag as the primary sees it; all as gauges, and a warning in the log when a
threshold is crossed (also counted, so alerts need not parse logs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..observability import NodeMetrics
from ..resilience import Periodic
from .pools import ManagedPool

__all__ = ["DatabaseMonitor", "MonitorReport", "MonitorThresholds"]

log = logging.getLogger("bizra_node.store")

_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)",
           "fastpath function call", "disabled")

_HAS_PGSS = "SELECT to_regclass('pg_stat_statements') IS NOT NULL"
_SLOW = ("SELECT count(*) FILTER (WHERE mean_exec_time > $1), COALESCE(max(mean_exec_time), 0) "
         "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
         "WHERE datname = current_database())")
_CONNECTIONS = ("SELECT COALESCE(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity "
                "WHERE datname = current_database() GROUP BY 1")
_MAX_CONN = "SELECT current_setting('max_connections')::int"
_HIT_RATIO = ("SELECT blks_hit::float8 / NULLIF(blks_hit + blks_read, 0) FROM pg_stat_database "
              "WHERE datname = current_database()")
_REPLICATION = ("SELECT COALESCE(NULLIF(application_name, ''), client_addr::text, 'standby') AS name, "
                "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8 AS bytes, "
                "COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 AS seconds "
                "FROM pg_stat_replication")


@dataclass(frozen=True, slots=True)
class MonitorThresholds:
    slow_statement_ms: float = 1000.0
    min_hit_ratio: float = 0.99
    max_connection_use: float = 0.8
    max_replication_lag: float = 5.0


@dataclass
class MonitorReport:
    slow_statements: int | None = None
    slowest_mean_ms: float | None = None
    connections: dict[str, int] = field(default_factory=dict)
    max_connections: int = 0
    hit_ratio: float | None = None
    replication: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class DatabaseMonitor:
    def __init__(self, get_pool: Callable[[], ManagedPool | None], metrics: NodeMetrics,
                 thresholds: MonitorThresholds, interval: float) -> None:
        self._get_pool = get_pool
        self._metrics = metrics
        self.thresholds = thresholds
        self.interval = interval
        self.last: MonitorReport | None = None
        self._periodic = Periodic("db-monitor", self._tick, interval, logger=log, first_delay=0)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _tick(self) -> None:
        try:
            await self.collect()
        except Exception as exc:  # the monitor reports, it never stops the node
            log.warning("database monitor failed: %s", type(exc).__name__)

    async def collect(self) -> MonitorReport | None:
        pool = self._get_pool()
        if pool is None:
            return None
        t = self.thresholds
        m = self._metrics
        report = MonitorReport()
        if await pool.fetchval("monitor", _HAS_PGSS):
            try:
                row = (await pool.fetch("monitor", _SLOW, t.slow_statement_ms))[0]
                report.slow_statements, report.slowest_mean_ms = int(row[0]), float(row[1])
            except Exception as exc:  # the view exists but is not loaded (preload missing)
                log.debug("pg_stat_statements unreadable: %s", type(exc).__name__)
        if report.slow_statements is not None:
            m.db_slow_statements.set(report.slow_statements)
            m.db_slowest_statement_ms.set(report.slowest_mean_ms or 0.0)
            if report.slow_statements:
                report.warnings.append("slow_statements")
                log.warning("slow statements: %d with mean above %.0f ms (slowest %.0f ms)",
                            report.slow_statements, t.slow_statement_ms, report.slowest_mean_ms)
        for row in await pool.fetch("monitor", _CONNECTIONS):
            report.connections[row["state"]] = int(row["n"])
        for state in (*_STATES, "unknown"):
            m.db_connections.set(report.connections.get(state, 0), (state,))
        report.max_connections = int(await pool.fetchval("monitor", _MAX_CONN))
        used = sum(report.connections.values())
        if report.max_connections and used > t.max_connection_use * report.max_connections:
            report.warnings.append("connections")
            log.warning("database connections high: %d of max_connections %d", used,
                        report.max_connections)
        ratio = await pool.fetchval("monitor", _HIT_RATIO)
        if ratio is not None:
            report.hit_ratio = float(ratio)
            m.db_cache_hit_ratio.set(report.hit_ratio)
            if report.hit_ratio < t.min_hit_ratio:
                report.warnings.append("cache_hit_ratio")
                log.warning("buffer cache hit ratio low: %.4f (threshold %.2f)",
                            report.hit_ratio, t.min_hit_ratio)
        for row in await pool.fetch("monitor", _REPLICATION):
            entry = {"name": row["name"], "bytes": row["bytes"], "seconds": row["seconds"]}
            report.replication.append(entry)
            m.db_replication_lag_bytes.set(row["bytes"], (row["name"],))
            if row["seconds"] > t.max_replication_lag:
                report.warnings.append("replication_lag")
                log.warning("standby %s replays %.1f s behind", row["name"], row["seconds"])
        for check in report.warnings:
            m.db_monitor_warnings.inc((check,))
        self.last = report
        return report
