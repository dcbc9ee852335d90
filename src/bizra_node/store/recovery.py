"""When the writer tries PostgreSQL again after it went down, and the replay of what
waited for it: spool files, and local logs a worker that died left behind.

While PostgreSQL is down the writer spools every batch; a probe (``SELECT 1``) is due
after a backoff that doubles from 0.2 s to 5 s. Once a probe succeeds the spool is
replayed through the idempotent insert (a batch whose commit went unseen lands once).
In local durability the writer also looks every few seconds for logs a dead worker
left (the spool's ``pending()`` lists them beside spool files).
"""

from __future__ import annotations

import asyncio
import logging
import time

from .batches import BatchWriter, insert_idempotent, is_transient
from .pools import ManagedPool
from .spool import Spool

__all__ = ["Recovery"]

log = logging.getLogger("bizra_node.store")

PROBE_MIN, PROBE_MAX = 0.2, 5.0
"""Seconds between probes of a PostgreSQL that went down: the first wait, the cap."""
ORPHAN_CHECK = 5.0
"""How often (local durability) the writer looks for local logs a dead worker left."""


class Recovery:
    """Whether fresh batches go to PostgreSQL (``db_ok``), when to probe it again, and
    the replay. One per writer."""

    def __init__(self, spool: Spool, batches: BatchWriter, *, look_for_orphans: bool) -> None:
        self._spool = spool
        self._batches = batches
        self._look_for_orphans = look_for_orphans
        self.db_ok = False
        """Whether fresh batches go to the database (else straight to the spool)."""
        self._next_probe = 0.0
        self._probe_wait = PROBE_MIN
        self._orphans_at = 0.0
        """When to look for local logs left by a dead worker (at start, in any mode)."""

    def mark_up(self) -> None:
        """PostgreSQL has just been reached: write fresh batches there."""
        self.db_ok = True
        self._next_probe = 0.0

    def went_down(self, exc: BaseException) -> None:
        if self.db_ok:
            log.warning("write-behind: PostgreSQL unavailable (%s); spooling",
                        type(exc).__name__)
        self.db_ok = False
        self._probe_wait = PROBE_MIN
        self._next_probe = time.monotonic() + self._probe_wait

    def idle_wait(self) -> float | None:
        """Seconds the writer may sleep with nothing queued before a probe or a replay is
        due (None: until a record comes)."""
        now = time.monotonic()
        if not self.db_ok or self._spool.has_active or self._spool.bytes:
            return max(self._next_probe - now, PROBE_MIN)
        if self._orphans_at < float("inf"):
            return max(self._orphans_at - now, 0.0)
        return None

    def due(self) -> bool:
        """Whether a probe or a replay is due now."""
        now = time.monotonic()
        idle = (self.db_ok and not self._spool.has_active and not self._spool.bytes
                and now < self._orphans_at)
        return not idle and now >= self._next_probe

    async def recover(self, pool: ManagedPool | None) -> None:
        """Probe PostgreSQL if it was down; when it answers, replay what waits."""
        if pool is None:
            self._schedule_probe()
            return
        if not self.db_ok:
            try:
                await pool.fetchval("probe", "SELECT 1")
            except Exception:
                self._schedule_probe()
                return
            self.db_ok = True
            log.info("write-behind: PostgreSQL reachable again; replaying the spool")
        await self.replay(pool)

    def _schedule_probe(self) -> None:
        self._next_probe = time.monotonic() + self._probe_wait
        self._probe_wait = min(self._probe_wait * 2, PROBE_MAX)

    async def replay(self, pool: ManagedPool) -> int:
        """Write every pending spool file; returns records newly stored."""
        spool = self._spool
        await asyncio.to_thread(spool.seal)
        stored = 0
        for path in spool.pending():
            with spool.claim(path) as found:
                if found is None:
                    continue
                for frame in found.frames:
                    try:
                        added = await insert_idempotent(pool, frame)
                    except Exception as exc:
                        if is_transient(exc):
                            self.went_down(exc)
                            return stored
                        self._batches.keep_refused(frame, f"spooled; {type(exc).__name__}")
                        continue
                    stored += added
                    self._batches.count_added(added, len(frame), "replayed")
                if found.damage:
                    spool.quarantine(path, found)
                else:
                    spool.remove(path)
        spool.refresh()
        self._probe_wait = PROBE_MIN
        self._next_probe = time.monotonic() + PROBE_MAX
        self._orphans_at = (time.monotonic() + ORPHAN_CHECK if self._look_for_orphans
                            else float("inf"))
        return stored
