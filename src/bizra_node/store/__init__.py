"""PostgreSQL: pools and replica routing, migrations, write-behind with a spool,
validation history, PgBouncer config, the embedded default and the database monitor.

Exported here is what the rest of the node uses (app/ builds a Store from a
StoreConfig; the CLI migrates and writes PgBouncer configs); the modules' other
names are this package's own business (tests import them from their modules).
"""

from __future__ import annotations

from .api_keys import KeyRepository, NameTaken
from .config import StoreConfig
from .embedded import EmbeddedPostgres
from .monitor import MonitorThresholds
from .pgbouncer import PgBouncerConfig, parse_backend, render_ini, render_userlist, write_config
from .pools import PoolOptions
from .records import Record
from .spool import Spool, unwritable
from .store import Store, connect_once, describe, run_migrations

__all__ = [
    "EmbeddedPostgres",
    "KeyRepository",
    "MonitorThresholds",
    "NameTaken",
    "PgBouncerConfig",
    "PoolOptions",
    "Record",
    "Spool",
    "Store",
    "StoreConfig",
    "connect_once",
    "describe",
    "parse_backend",
    "render_ini",
    "render_userlist",
    "run_migrations",
    "unwritable",
    "write_config",
]
