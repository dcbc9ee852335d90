"""What the tiered cache is told at start: one object, built by app/ from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import CodecName
from .connect import RedisConfig
from .ttl import TtlPolicy

__all__ = ["MIN_SECRET_LENGTH", "CacheConfig"]

MIN_SECRET_LENGTH = 32
"""Characters of CACHE_SECRET: whoever can read Redis sees tagged values and could
try to guess a short secret offline."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    network_id: int
    """Part of every L2 key: two networks never share an entry."""
    policy: TtlPolicy = field(default_factory=TtlPolicy)
    l1_entries: int = 10_000
    l1_max_bytes: int = 256 * 1024 * 1024
    l1_max_ttl: float = 300.0
    """No entry stays in L1 longer than this, whatever its TTL (L2 keeps it longer)."""
    redis: RedisConfig | None = None
    """Where Redis is (standalone, Sentinel or Cluster); None: L1 only."""
    l2_timeout: float = 0.05
    l2_breaker_failures: int = 3
    l2_breaker_reset: float = 5.0
    key_prefix: str = "bizra"
    codec: CodecName = "zstd-dict"
    codec_level: int = 1
    secret: str = field(default="", repr=False)
    """CACHE_SECRET: the key of the MAC on every L2 value; required with ``redis``."""
    max_entry_bytes: int = 1 << 20
    """Answers larger than this are served but not cached (Tuning.cache_max_entry_bytes)."""

    def __post_init__(self) -> None:
        if self.l1_entries < 0 or self.l1_max_bytes < 0:
            raise ValueError("CacheConfig: L1 bounds must not be negative")
        if self.l1_max_ttl <= 0 or self.l2_timeout <= 0 or self.l2_breaker_reset <= 0:
            raise ValueError("CacheConfig: l1_max_ttl, l2_timeout and l2_breaker_reset "
                             "must be positive")
        if self.l2_breaker_failures < 1:
            raise ValueError("CacheConfig.l2_breaker_failures must be at least 1")
        if self.redis is not None and len(self.secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"CacheConfig.secret (CACHE_SECRET) of at least {MIN_SECRET_LENGTH} "
                             "characters is required with a Redis L2")
        if self.max_entry_bytes < 1024:
            raise ValueError("CacheConfig.max_entry_bytes must be at least 1024")
