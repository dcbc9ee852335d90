"""The keys a worker checks requests against, held in memory.

:class:`KeyRing` holds the active keys (at most ``capacity``) by their keyed hash,
so a request's key is checked with one HMAC and one dict lookup (``find_now``, on
the synchronous lane too). It is filled from PostgreSQL at start and kept current
by a periodic refresh (only the rows changed since the last one; everything again
every ``full_every`` refreshes) and by events on Redis pub/sub (keyevents.py), which
make a revocation take effect on every node at once; the refresh is the fallback
when Redis is down.

When the table has more active keys than ``capacity``, the ring holds the most
recently used ones and is *incomplete*: a key it does not hold is looked up in the
database on the full path (``find``), and unknown keys are remembered for a refresh
interval so that they cost one query, not one per request.

The keys checked lately are remembered as presented (``recent``: at most
``CHECKED_MAX``, emptied whenever the ring changes), so a steady client's request
costs one dict lookup instead of an HMAC (~1.6 us here, a third of the hit path).
That keeps raw keys in this worker's memory for a refresh interval, as its request
buffers do anyway.

"Last used" is written in batches: a request only adds its key's id to a set, and a
periodic task writes the set in one statement (``touch_interval``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from ..apikeys import KeyRecord, KeySource
from ..observability import NodeMetrics, Throttle
from ..resilience import Periodic
from .keygen import KeyHasher

__all__ = ["NOT_HELD", "KeyRing"]

log = logging.getLogger("bizra_node.security")

_SKEW: Final = timedelta(seconds=5)
"""Changes are read from a little before the last refresh: a transaction that
committed late with an earlier timestamp is not missed."""
_NEGATIVE_MAX: Final = 10_000
CHECKED_MAX: Final = 10_000


class _NotHeld:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_HELD"


NOT_HELD: Final[Any] = _NotHeld()
"""``find_now``: the ring does not hold the key and cannot say it is unknown."""


class KeyRing:
    def __init__(self, source: KeySource, hasher: KeyHasher, metrics: NodeMetrics, *,
                 capacity: int = 100_000, refresh: float = 5.0, touch_interval: float = 30.0,
                 full_every: int = 12) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._source = source
        self.hasher = hasher
        self._metrics = metrics
        self.capacity = capacity
        self.refresh_interval = refresh
        self.full_every = full_every
        self._by_hash: dict[bytes, KeyRecord] = {}
        self._negative: dict[bytes, float] = {}
        self.recent: dict[str, KeyRecord] = {}
        """key as presented -> its record, for keys found lately (emptied on any change;
        the guard reads it directly on the hit path)."""
        self._complete = False
        self._loaded = False
        self._watermark: datetime | None = None
        self._since_full = 0
        self.used_ids: set[int] = set()
        """Ids of keys used since the last batch (the guard adds to it directly)."""
        self._lock = asyncio.Lock()
        self._warn = Throttle(30.0)
        self._refresher = Periodic("api-keys-refresh", self._refresh_quietly, refresh, logger=log)
        self._toucher = Periodic("api-keys-last-used", self.flush_used, touch_interval, logger=log)
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change the ring sees (a key dropped by an event,
        a refresh that read changed rows): open WebSocket connections are checked again
        then, so a revocation ends them within its reach (api/ws_guard.py)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # one listener's bug must not stop the ring
                log.exception("key ring listener failed")

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await self._refresh_quietly()
        self._refresher.start()
        self._toucher.start()

    async def stop(self) -> None:
        await self._refresher.stop()
        await self._toucher.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self.flush_used()

    # --- lookups -------------------------------------------------------------------------
    def find_now(self, token: str) -> KeyRecord | None:
        """The active key ``token`` is, None when it is certainly not one, or NOT_HELD
        (ask :meth:`find`)."""
        record = self.recent.get(token)
        if record is not None:
            return record
        key_hash = self.hasher.hash(token)
        record = self._by_hash.get(key_hash)
        if record is not None:
            checked = self.recent
            if len(checked) >= CHECKED_MAX:
                checked.clear()
            checked[token] = record
            return record
        if self._complete:
            return None
        expires = self._negative.get(key_hash)
        if expires is not None and expires > time.monotonic():
            return None
        return NOT_HELD  # type: ignore[no-any-return]

    async def find(self, token: str) -> KeyRecord | None:
        """Like ``find_now``, asking the database for a key the ring does not hold
        (raises StoreUnavailable when it cannot)."""
        found = self.find_now(token)
        if found is not NOT_HELD:
            return found
        key_hash = self.hasher.hash(token)
        record = await self._source.by_hash(key_hash)
        if record is None or not record.active:
            if len(self._negative) >= _NEGATIVE_MAX:
                self._negative.clear()
            self._negative[key_hash] = time.monotonic() + self.refresh_interval
            return None
        self._add(record)
        return record

    def used(self, record: KeyRecord) -> None:
        """Note a use (written to last_used_at by the next batch)."""
        self.used_ids.add(record.id)

    # --- changes ---------------------------------------------------------------------------
    def drop(self, key_hash: bytes) -> None:
        """Forget a key now (a revocation event); the refresh confirms it."""
        self._by_hash.pop(key_hash, None)
        self.recent.clear()
        self._negative[key_hash] = time.monotonic() + self.refresh_interval
        self._metrics.api_keys_loaded.set(len(self._by_hash))
        self._changed()

    def on_event(self, message: bytes) -> None:
        """A key event from pub/sub: ``revoke <hash hex>`` or ``changed``."""
        op, _, arg = message.partition(b" ")
        if op == b"revoke":
            with contextlib.suppress(ValueError):
                self.drop(bytes.fromhex(arg.decode("ascii")))
        task = asyncio.get_running_loop().create_task(self._refresh_quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refresh(self) -> None:
        async with self._lock:
            if not self._loaded or self._since_full >= self.full_every or self._watermark is None:
                rows, now = await self._source.active(self.capacity + 1)
                self._by_hash = {r.key_hash: r for r in rows[: self.capacity]}
                self.recent.clear()
                self._complete = len(rows) <= self.capacity
                self._loaded = True
                self._since_full = 0
            else:
                rows, now = await self._source.changed_since(self._watermark - _SKEW)
                for record in rows:
                    if record.active:
                        self._add(record)
                    else:
                        self._by_hash.pop(record.key_hash, None)
                self._since_full += 1
            self._watermark = now
            self._negative.clear()
            if rows:
                self.recent.clear()
            self._metrics.api_keys_loaded.set(len(self._by_hash))
        if rows:
            self._changed()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the database may be down: keep what we hold
            suppressed = self._warn.allow(("refresh", type(exc).__name__))
            if suppressed is not None:
                log.warning("API keys not refreshed (%s): using the %d held",
                            type(exc).__name__, len(self._by_hash))

    async def flush_used(self) -> None:
        if not self.used_ids:
            return
        ids = sorted(self.used_ids)
        self.used_ids.clear()  # the same set object: the guard holds its add method
        try:
            await self._source.touch(ids)
        except Exception as exc:
            self.used_ids.update(ids)  # next time
            suppressed = self._warn.allow(("touch", type(exc).__name__))
            if suppressed is not None:
                log.warning("API keys' last use not written (%s)", type(exc).__name__)

    def _add(self, record: KeyRecord) -> None:
        self.recent.clear()
        table = self._by_hash
        if record.key_hash not in table and len(table) >= self.capacity:
            table.pop(next(iter(table)))  # the oldest held goes; the ring is now partial
            self._complete = False
        table[record.key_hash] = record

    # --- introspection -----------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded

    def status(self) -> dict[str, Any]:
        return {"ok": self._loaded, "held": len(self._by_hash), "complete": self._complete}

    def __len__(self) -> int:
        return len(self._by_hash)
