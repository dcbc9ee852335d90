"""What the store is told at start: one object, built by app/ from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from .monitor import MonitorThresholds
from .pools import PoolOptions
from .writer import DURABILITY_MODES, Durability

__all__ = ["StoreConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    database_url: str
    """Primary PostgreSQL; empty: an embedded server under ``data_dir``."""
    pool: PoolOptions
    read_urls: tuple[str, ...] = ()
    replica_pool: PoolOptions | None = None
    """Pools of the read replicas (never through PgBouncer); None: same as ``pool``."""
    replica_max_lag: float = 5.0
    replica_check_interval: float = 5.0
    monitor: MonitorThresholds = field(default_factory=MonitorThresholds)
    monitor_interval: float = 60.0
    batch_rows: int = 500
    batch_interval: float = 0.05
    queue_max: int = 100_000
    data_dir: str = ".data"
    partitions_ahead: int = 3
    spool_max_bytes: int = 1 << 30
    durability: Durability = "local"
    """When a validation is answered: async (record queued), local (in the fsynced local
    log), sync (committed in PostgreSQL). See writer.py."""
    commit_interval: float = 0.002
    """Least time between two fsyncs of the local log (group commit), s."""

    def __post_init__(self) -> None:
        for name in ("replica_check_interval", "monitor_interval", "batch_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"StoreConfig.{name} must be positive")
        for name in ("batch_rows", "queue_max", "partitions_ahead", "spool_max_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"StoreConfig.{name} must be at least 1")
        if self.durability not in DURABILITY_MODES:
            raise ValueError(f"StoreConfig.durability must be one of {DURABILITY_MODES}")
        if not 0 <= self.commit_interval <= 1:
            raise ValueError("StoreConfig.commit_interval must be 0..1 s")
        for url in (self.database_url, *self.read_urls):
            if url and not url.startswith(("postgres://", "postgresql://")):
                raise ValueError("StoreConfig: database URLs must be postgresql:// URLs")
