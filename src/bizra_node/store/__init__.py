"""PostgreSQL: pools and replica routing, migrations, write-behind with a spool,
validation history, PgBouncer config, the embedded default and the database monitor."""

from __future__ import annotations

from .embedded import EmbeddedPostgres
from .history import (
    MAX_LIMIT,
    HistoryItem,
    HistoryPage,
    HistoryQuery,
    HistoryReader,
    StoreUnavailable,
    decode_cursor,
    encode_cursor,
)
from .migrate import Migration, MigrationError, load_migrations, migrate
from .monitor import DatabaseMonitor, MonitorReport, MonitorThresholds
from .partitions import ensure_partitions, partition_name
from .pgbouncer import parse_backend, render_ini, render_userlist, write_config
from .pools import ManagedPool, PoolOptions
from .records import COLUMNS, Record, make_record, new_id
from .replicas import Replica, ReplicaRouter
from .spool import Spool, SpoolFull, read_frames
from .store import Store, connect_once, run_migrations
from .writer import WriteBehind, is_transient

__all__ = [
    "COLUMNS",
    "MAX_LIMIT",
    "DatabaseMonitor",
    "EmbeddedPostgres",
    "HistoryItem",
    "HistoryPage",
    "HistoryQuery",
    "HistoryReader",
    "ManagedPool",
    "Migration",
    "MigrationError",
    "MonitorReport",
    "MonitorThresholds",
    "PoolOptions",
    "Record",
    "Replica",
    "ReplicaRouter",
    "Spool",
    "SpoolFull",
    "Store",
    "StoreUnavailable",
    "WriteBehind",
    "connect_once",
    "decode_cursor",
    "encode_cursor",
    "ensure_partitions",
    "is_transient",
    "load_migrations",
    "make_record",
    "migrate",
    "new_id",
    "parse_backend",
    "partition_name",
    "read_frames",
    "render_ini",
    "render_userlist",
    "run_migrations",
    "write_config",
]
