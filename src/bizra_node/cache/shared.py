"""Small shared state every worker (and every node) sees: Redis when configured,
else this process's memory. ("Records" are the validations' rows in PostgreSQL only.)

Unlike the cache, an entry here is state (a JSON-RPC filter and how far its client has
read): it is not recomputed when missing, so a failure is an error the caller
reports (``StoreUnavailable``), never a miss. Each entry has a time to live,
renewed by ``get(..., touch=ttl)``; ``swap`` replaces an entry only if it still
holds what the caller read (compare-and-set, one Lua script in Redis), so two
workers answering the same client never hand out the same update twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import StoreUnavailable
from .connect import RedisClient, RedisConfig, connect_redis

__all__ = ["LocalState", "RedisState", "SharedState"]

_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class SharedState(Protocol):
    shared: bool
    """True when other workers and nodes see the same state."""

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...
    async def get(self, key: str, touch: float | None = None) -> bytes | None: ...
    async def swap(self, key: str, old: bytes, new: bytes, ttl: float) -> bool: ...
    async def delete(self, key: str) -> bool: ...
    async def close(self) -> None: ...


class RedisState:
    """Records in Redis under ``prefix``; every call bounded by ``timeout`` s."""

    shared = True

    def __init__(self, config: RedisConfig, prefix: str, *, timeout: float = 1.0) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self._redis: RedisClient = connect_redis(config, socket_timeout=timeout, retries=1,
                                                 max_connections=64)
        self._swap = self._redis.register_script(_SWAP)

    async def _run(self, what: str, op: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                return await op
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"shared state unavailable ({what})",
                                   {"reason": "redis", "error": type(exc).__name__}) from None

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self._run("put", self._redis.set(self.prefix + key, value, px=_ms(ttl)))

    async def get(self, key: str, touch: float | None = None) -> bytes | None:
        k = self.prefix + key
        if touch is None:
            value = await self._run("get", self._redis.get(k))
        else:
            value = await self._run("get", self._redis.getex(k, px=_ms(touch)))
        return value if isinstance(value, bytes) else None

    async def swap(self, key: str, old: bytes, new: bytes, ttl: float) -> bool:
        done = await self._run("swap", self._swap(keys=[self.prefix + key],
                                                  args=[old, new, _ms(ttl)]))
        return bool(done)

    async def delete(self, key: str) -> bool:
        return bool(await self._run("delete", self._redis.delete(self.prefix + key)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection may raise
            await self._redis.aclose()


class LocalState:
    """Records in this process only (no REDIS_URL): other workers do not see them and
    they end with the process."""

    shared = False

    def __init__(self, max_entries: int = 100_000, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._max = max_entries
        self._clock = clock

    def _live(self, key: str) -> bytes | None:
        slot = self._data.get(key)
        if slot is None:
            return None
        if slot[1] <= self._clock():
            del self._data[key]
            return None
        return slot[0]

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        if len(self._data) >= self._max:
            now = self._clock()
            for k in [k for k, (_, until) in self._data.items() if until <= now]:
                del self._data[k]
            if len(self._data) >= self._max:
                raise StoreUnavailable("too many filter states held in this process",
                                       {"reason": "records_full", "limit": self._max})
        self._data[key] = (value, self._clock() + ttl)

    async def get(self, key: str, touch: float | None = None) -> bytes | None:
        value = self._live(key)
        if value is not None and touch is not None:
            self._data[key] = (value, self._clock() + touch)
        return value

    async def swap(self, key: str, old: bytes, new: bytes, ttl: float) -> bool:
        if self._live(key) != old:
            return False
        self._data[key] = (new, self._clock() + ttl)
        return True

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    async def close(self) -> None:
        self._data.clear()


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
