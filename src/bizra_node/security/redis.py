"""The Redis client the security room uses (rate-limit leases, key events).

One small function, so the lead can swap it for the shared connector (standalone,
Sentinel or Cluster) when ``cache/connect.py`` lands. Like the L2 client: short
timeouts, no retries of its own (the limiter falls back instead of waiting), no
CLIENT SETINFO round trips.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["connect_redis"]

_NO_SETINFO: dict[str, Any] = (
    {"driver_info": None} if "driver_info" in inspect.signature(aioredis.Redis.__init__).parameters
    else {"lib_name": None, "lib_version": None})


def connect_redis(url: str, *, timeout: float, max_connections: int = 64) -> aioredis.Redis:
    """A client for ``url`` (connections are made on first use)."""
    return aioredis.Redis.from_url(
        url, socket_timeout=max(timeout, 0.01), socket_connect_timeout=max(timeout, 0.25),
        retry=Retry(NoBackoff(), 0), retry_on_timeout=False, decode_responses=False,
        max_connections=max_connections, health_check_interval=0, **_NO_SETINFO)
