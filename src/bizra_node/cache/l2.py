"""L2: Redis through redis-py's asyncio client (hiredis parser).

A Redis failure never fails a request: every call is bounded by a short timeout
(L2_TIMEOUT), guarded by a breaker, and turns any failure into "no value" (get)
or "not stored" (set), counted in ``cache_l2_errors``. redis-py's own retries are
off (the node goes upstream instead of waiting); its pool opens a new connection on
the next call after one broke, so the L2 reconnects by itself once Redis is back
and the breaker lets a probe through.

The breaker is the toolbox ``resilience.CircuitBreaker`` configured by
:func:`l2_breaker_config`: it opens on consecutive failures only, and after the reset
timeout lets one probe through, whose success closes it. A cancelled call reports
``Outcome.IGNORED`` (no verdict, gives a half-open probe slot back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..observability import NodeMetrics
from ..resilience import BreakerConfig, CircuitBreaker, Outcome, State
from .connect import RedisConfig, connect_redis, every_primary

__all__ = ["RedisL2", "l2_breaker_config", "redact_url"]

_INDEX_DEPTH = 8192
"""Blocks below the highest noted one that the reorg index keeps (deeper reorgs are
below finality by far: answers there are found by the L1 scan only)."""

_PRUNE_EVERY = 4096
"""Indexed writes between two prunings of the notes more than _INDEX_DEPTH blocks deep
(so the index stays about as large as the entries of the last _INDEX_DEPTH blocks)."""

log = logging.getLogger("bizra_node.cache")

def l2_breaker_config(failures: int, reset: float) -> BreakerConfig:
    """The breaker for Redis (Tuning.l2_breaker_failures and l2_breaker_reset).

    Opens after ``failures`` consecutive failures and nothing else: the failure-rate
    rule is set to 100 % over at least ``failures`` calls, which the consecutive rule
    always meets first (a success in the window keeps the rate below 100 %). One probe
    at a time when half-open; its success closes the breaker.
    """
    return BreakerConfig(failure_threshold=failures, failure_rate=100.0,
                         volume_threshold=failures, reset_timeout=reset, half_open_probes=1)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and readiness."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


class RedisL2:
    def __init__(self, redis: str | RedisConfig, *, timeout: float, metrics: NodeMetrics,
                 breaker: CircuitBreaker,
                 max_connections: int = 256) -> None:
        """``redis``: a standalone URL, or a :class:`RedisConfig` (sentinel, cluster)."""
        config = RedisConfig(redis) if isinstance(redis, str) else redis
        self.url = config.redacted()
        self.timeout = timeout
        self.breaker = breaker
        self._metrics = metrics
        self._errors = metrics.cache_l2_errors
        self._indexed = 0
        self._redis = connect_redis(config, socket_timeout=max(timeout, 0.01),
                                    connect_timeout=max(timeout, 0.25),
                                    max_connections=max_connections)

    # --- data ----------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or None on a miss, a failure, or an open breaker."""
        if not self.breaker.allow():
            self._errors.inc(("skipped",))
            return None
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._redis.get(key)
        except asyncio.CancelledError:
            self.breaker.record(Outcome.IGNORED)  # no verdict; frees a probe slot
            raise
        except Exception as exc:  # a Redis failure is a miss, never a failed request
            self._failed("get", exc)
            return None
        self.breaker.record(Outcome.SUCCESS)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> bool:
        if not self.breaker.allow():
            self._errors.inc(("skipped",))
            return False
        try:
            async with asyncio.timeout(self.timeout):
                await self._redis.set(key, value, px=max(int(ttl * 1000), 1))
        except asyncio.CancelledError:
            self.breaker.record(Outcome.IGNORED)  # no verdict; frees a probe slot
            raise
        except Exception as exc:
            self._failed("set", exc)
            return False
        self.breaker.record(Outcome.SUCCESS)
        return True

    async def set_indexed(self, key: str, value: bytes, ttl: float, index: str,
                          block: int) -> bool:
        """``set``, and ``key`` noted under ``block`` in the sorted set ``index`` (so a
        reorg can find what depends on the blocks it replaced), in one round trip."""
        if not self.breaker.allow():
            self._errors.inc(("skipped",))
            return False
        try:
            async with asyncio.timeout(self.timeout):
                pipe = self._redis.pipeline(transaction=False)
                pipe.set(key, value, px=max(int(ttl * 1000), 1))
                pipe.zadd(index, {key: block})
                self._indexed += 1
                if self._indexed % _PRUNE_EVERY == 0:  # notes no reorg will reach
                    pipe.zremrangebyscore(index, "-inf", f"({block - _INDEX_DEPTH}")
                await pipe.execute()
        except asyncio.CancelledError:
            self.breaker.record(Outcome.IGNORED)
            raise
        except Exception as exc:
            self._failed("set", exc)
            return False
        self.breaker.record(Outcome.SUCCESS)
        return True

    async def drop_from(self, index: str, block: int, *, prefix: str,
                        keep_above: int = _INDEX_DEPTH) -> int:
        """Delete every key ``index`` notes at ``block`` or above (a reorg replaced those
        blocks), only keys under ``prefix`` (whoever else wrote into the index cannot
        make the node delete other keys); also forget notes more than ``keep_above``
        blocks below the highest one. Returns the keys deleted; 0 on failure."""
        mine = prefix.encode()
        try:
            async with asyncio.timeout(max(self.timeout, 2.0)):
                found = await self._redis.zrangebyscore(index, block, "+inf")
                keys = [k for k in found if isinstance(k, bytes) and k.startswith(mine)
                        and k != index.encode()]
                if keys:
                    pipe = self._redis.pipeline(transaction=False)
                    for key in keys:  # one by one: keys of a cluster live in many slots
                        pipe.delete(key)
                    await pipe.execute()
                await self._redis.zremrangebyscore(index, block, "+inf")
                top = await self._redis.zrange(index, -1, -1, withscores=True)
                if top:
                    await self._redis.zremrangebyscore(index, "-inf",
                                                       f"({int(top[0][1]) - keep_above}")
        except Exception as exc:
            self._failed("delete", exc)
            return 0
        return len(keys)

    async def delete(self, *keys: str) -> int:
        """Remove keys (invalidation, tests); 0 on failure."""
        if not keys:
            return 0
        try:
            async with asyncio.timeout(self.timeout):
                return int(await self._redis.delete(*keys))
        except Exception as exc:
            self._failed("delete", exc)
            return 0

    # --- operations ------------------------------------------------------------------
    async def ping(self, timeout: float | None = None) -> dict[str, Any]:
        """Readiness detail: is Redis answering, how fast, the breaker state. Also
        refreshes the L2 entries/bytes gauges (whole Redis: DBSIZE, used_memory)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout or max(self.timeout, 0.5)):
                await self._redis.ping()
                whole = every_primary(self._redis)  # cluster: every master, summed
                size = await self._redis.dbsize(**whole)
                memory = await self._redis.info("memory", **whole)
        except Exception as exc:
            self._errors.inc(("ping",))
            return {"up": False, "error": type(exc).__name__, "breaker": self.breaker_state}
        if self.breaker.state is not State.CLOSED:
            # Redis answered the readiness probe: use it again now, without waiting for
            # the reset timeout (the breaker only closes on a probe it let through).
            self.breaker.force(State.CLOSED)
        self._metrics.cache_entries.set(int(size), ("l2",))
        used, maxmemory, policy = _memory(memory)
        self._metrics.cache_bytes.set(used, ("l2",))
        return {"up": True, "latencyMs": round((time.perf_counter() - started) * 1000, 3),
                "breaker": self.breaker_state, "maxmemory": maxmemory,
                "maxmemoryPolicy": policy}

    @property
    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (readiness, /api/metrics)."""
        return self.breaker.state.name.lower()

    async def close(self) -> None:
        try:
            await self._redis.aclose()
        except Exception:  # closing a dead connection may raise; nothing to do about it
            log.debug("redis close failed", exc_info=True)

    def _failed(self, op: str, exc: BaseException) -> None:
        self._errors.inc((op,))
        before = self.breaker.state
        self.breaker.record(Outcome.FAILURE)
        if before is not State.OPEN and self.breaker.state is State.OPEN:
            log.warning("redis L2 unavailable, serving from L1 and upstream: %s",
                        type(exc).__name__, extra={"redis": redact_url(self.url)})


def _memory(info: Any) -> tuple[int, int, str]:
    """(used_memory, maxmemory, maxmemory_policy) from INFO memory: one server's dict, or
    (cluster) one dict per node: used summed, the smallest maxmemory, the policies."""
    if not isinstance(info, dict):
        return 0, 0, "unknown"
    nodes = [info] if "used_memory" in info else [v for v in info.values() if isinstance(v, dict)]
    if not nodes:
        return 0, 0, "unknown"
    used = sum(int(n.get("used_memory", 0)) for n in nodes)
    maxmemory = min(int(n.get("maxmemory", 0)) for n in nodes)
    policies = sorted({str(n.get("maxmemory_policy", "unknown")) for n in nodes})
    return used, maxmemory, ",".join(policies)
