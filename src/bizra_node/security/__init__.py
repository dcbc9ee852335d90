"""Who is calling and how much they may ask: API keys (hashed, held in memory, kept
current through PostgreSQL and Redis pub/sub) and cluster-wide rate limits (GCRA in
Redis, spent locally from leases). No HTTP here: api/guard.py applies these to
requests."""

from __future__ import annotations

from .gcra import LocalGcra, Policy
from .keyevents import CHANGED, key_channel, publish_key_event
from .keygen import KeyHasher, generate_key
from .keyring import NOT_HELD, KeyRing
from .limiter import DEFER, Deferred, LimiterConfig, Mode, RateLimiter, Refusal

__all__ = [
    "CHANGED",
    "DEFER",
    "NOT_HELD",
    "Deferred",
    "KeyHasher",
    "KeyRing",
    "LimiterConfig",
    "LocalGcra",
    "Mode",
    "Policy",
    "RateLimiter",
    "Refusal",
    "generate_key",
    "key_channel",
    "publish_key_event",
]
