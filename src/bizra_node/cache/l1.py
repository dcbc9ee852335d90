"""L1: an in-process LRU with per-entry TTL, bounded by entries and by bytes.

Expiry is lazy: an entry past its deadline is dropped when it is read (and a few
of the oldest are dropped on each write), never by a periodic scan over the whole
cache. The values are the encoded answers; the caller says how many bytes each
one holds, so the byte bound tracks what the answers really cost.

``trim(fraction)`` and ``clear()`` are for the memory guard: they drop the least
recently used share of the entries (or all) and say how many went.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..observability import NodeMetrics

__all__ = ["L1Cache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_SWEEP_ON_SET = 2
"""Expired entries at the LRU end dropped per write: amortised cleanup, no scan."""
EVICTION_REASONS = ("expired", "size", "bytes", "trim", "clear")


class L1Cache(Generic[K, V]):
    __slots__ = ("_clock", "_data", "_metrics", "max_bytes", "max_entries", "nbytes")

    def __init__(self, max_entries: int, max_bytes: int, *, metrics: NodeMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._data: OrderedDict[K, tuple[V, float, int]] = OrderedDict()
        """key -> (value, monotonic deadline, bytes)"""
        self._metrics = metrics
        self._clock = clock
        if metrics is not None:
            metrics.cache_evictions.preset(*((r,) for r in EVICTION_REASONS))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    # --- reading -----------------------------------------------------------------
    def get(self, key: K) -> V | None:
        """The live value for ``key`` (and mark it recently used), else None."""
        slot = self._data.get(key)
        if slot is None:
            return None
        if slot[1] <= self._clock():
            self._drop(key, slot[2], "expired")
            self._publish()
            return None
        self._data.move_to_end(key)
        return slot[0]

    def ttl(self, key: K) -> float | None:
        """Seconds ``key`` has left, None when absent or expired (does not touch LRU)."""
        slot = self._data.get(key)
        if slot is None:
            return None
        left = slot[1] - self._clock()
        return left if left > 0 else None

    # --- writing -----------------------------------------------------------------
    def set(self, key: K, value: V, size: int, ttl: float) -> bool:
        """Store ``value`` (``size`` bytes) for ``ttl`` seconds. False when it cannot be
        held at all (TTL not positive, L1 disabled, or larger than the byte bound)."""
        if ttl <= 0 or self.max_entries <= 0 or size > self.max_bytes:
            self.delete(key)
            return False
        data = self._data
        old = data.pop(key, None)
        if old is not None:
            self.nbytes -= old[2]
        now = self._clock()
        data[key] = (value, now + ttl, size)
        self.nbytes += size
        self._sweep(now)
        while len(data) > self.max_entries:
            self._evict_oldest("size")
        while self.nbytes > self.max_bytes:
            self._evict_oldest("bytes")
        self._publish()
        return True

    def delete(self, key: K) -> bool:
        slot = self._data.pop(key, None)
        if slot is None:
            return False
        self.nbytes -= slot[2]
        self._publish()
        return True

    def drop_where(self, doomed: Callable[[V], bool], reason: str) -> int:
        """Drop every entry whose value ``doomed`` says so (a scan: for rare events such
        as a reorg, never the request path); returns how many went."""
        gone = [(k, slot[2]) for k, slot in self._data.items() if doomed(slot[0])]
        for key, size in gone:
            self._drop(key, size, reason)
        if gone:
            self._publish()
        return len(gone)

    # --- memory guard --------------------------------------------------------------
    def trim(self, fraction: float) -> int:
        """Drop the least recently used ``fraction`` (0..1) of the entries."""
        if fraction <= 0 or not self._data:
            return 0
        count = min(len(self._data), math.ceil(len(self._data) * min(fraction, 1.0)))
        for _ in range(count):
            self._evict_oldest("trim")
        self._publish()
        return count

    def clear(self) -> int:
        """Drop everything; returns how many entries went."""
        count = len(self._data)
        self._data.clear()
        self.nbytes = 0
        if count and self._metrics is not None:
            self._metrics.cache_evictions.inc(("clear",), count)
        self._publish()
        return count

    # --- internals -----------------------------------------------------------------
    def _drop(self, key: K, size: int, reason: str) -> None:
        del self._data[key]
        self.nbytes -= size
        if self._metrics is not None:
            self._metrics.cache_evictions.inc((reason,))

    def _evict_oldest(self, reason: str) -> None:
        _, slot = self._data.popitem(last=False)
        self.nbytes -= slot[2]
        if self._metrics is not None:
            self._metrics.cache_evictions.inc((reason,))

    def _sweep(self, now: float) -> None:
        data = self._data
        for _ in range(_SWEEP_ON_SET):
            if not data:
                return
            key = next(iter(data))
            slot = data[key]
            if slot[1] > now:
                return
            self._drop(key, slot[2], "expired")

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.cache_entries.set(len(self._data), ("l1",))
            self._metrics.cache_bytes.set(self.nbytes, ("l1",))
