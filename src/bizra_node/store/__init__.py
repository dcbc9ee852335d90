"""PostgreSQL: pools and replica routing, migrations, write-behind with a spool,
validation history, PgBouncer config, the embedded default and the database monitor.

Exported here is what the rest of the node uses (app.py builds a Store from a
StoreConfig; the CLI migrates and writes PgBouncer configs); the modules' other
names are this package's own business (tests import them from their modules).
"""

from __future__ import annotations

from .config import StoreConfig
from .embedded import EmbeddedPostgres
from .monitor import MonitorThresholds
from .pgbouncer import PgBouncerConfig, parse_backend, render_ini, write_config
from .pools import PoolOptions
from .records import Record
from .spool import Spool
from .store import Store, describe, run_migrations

__all__ = [
    "EmbeddedPostgres",
    "MonitorThresholds",
    "PgBouncerConfig",
    "PoolOptions",
    "Record",
    "Spool",
    "Store",
    "StoreConfig",
    "describe",
    "parse_backend",
    "render_ini",
    "run_migrations",
    "write_config",
]
