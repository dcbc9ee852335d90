"""A deadline on reading request bodies, at the cost of a dict entry per read.

A body that never arrives in full (``Content-Length: 100`` and one byte sent, a
chunked body at a byte a second) would hold its request, and granian's slot for it,
forever. ``asyncio.timeout`` around each read bounds it but costs ~4 µs a request
(measured on this machine; ``loop.call_at`` ~1.3 µs), more than the rest of a cache
hit's body handling. Here a read registers its task in a dict with the tick at which
it is late (~0.4 µs with ``current_task``, measured); one reaper task counts ticks of
``tick`` s, cancels the reads that are late, and goes away after a tick with no read
pending (so it is made at most once a tick, never once a request). The adapter tells
that cancellation from any other by ``expired`` (which also takes it back,
``uncancel``) and answers 408. A body is thus late after ``timeout`` s, at most one
tick more.
"""

from __future__ import annotations

import asyncio
import math

__all__ = ["BodyTimeouts"]

_current_task = asyncio.current_task
_TASKS: dict[asyncio.AbstractEventLoop, asyncio.Task[object]] | None = getattr(
    asyncio.tasks, "_current_tasks", None)
"""The registry asyncio's tasks enter themselves in while they run (CPython 3.11-3.13; None
where it is gone): looked up with the loop a reaper runs on, one dict lookup instead of
``current_task()`` (~0.8 µs a request under uvloop on this machine, measured: the largest
item of ours on the POST hit path, docs/performance.md). Without it, or without an
entry, ``current_task()`` answers."""


class BodyTimeouts:
    __slots__ = ("_expired", "_loop", "_now", "_reads", "_reaper", "_ticks", "tick", "timeout")

    def __init__(self, timeout: float | None, *, tick: float | None = None) -> None:
        self.timeout = timeout if timeout else None
        """Seconds a body may take to arrive (HTTP_BODY_TIMEOUT); None: no limit."""
        self.tick = tick if tick is not None else min(max((timeout or 1.0) / 10, 0.05), 1.0)
        self._ticks = math.ceil((timeout or 0.0) / self.tick) + 1
        """Ticks a read may take: registered mid-tick, it is late after ``timeout`` s to
        ``timeout + tick`` s."""
        self._now = 0
        """Ticks counted by the reaper (it only needs to move while reads are pending)."""
        self._reads: dict[asyncio.Task[object], int] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the reaper runs on (while it runs)."""

    def begin(self) -> asyncio.Task[object] | None:
        """Register the current task's body read; pass what it returns to ``end``."""
        if self.timeout is None:
            return None
        loop = self._loop
        task = _TASKS.get(loop) if _TASKS is not None and loop is not None else None
        if task is None:
            task = _current_task()
            if task is None:  # pragma: no cover - always inside a task under a server
                return None
        self._reads[task] = self._now + self._ticks
        if self._reaper is None:
            loop = self._loop = asyncio.get_running_loop()
            self._reaper = loop.create_task(self._reap(), name="body-timeouts")
        return task

    def end(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            self._reads.pop(task, None)
            if self._expired:
                self._expired.discard(task)

    def expired(self, task: asyncio.Task[object] | None) -> bool:
        """Whether ``task`` was cancelled for being late (then the cancellation is
        taken back, so the caller can answer 408); False for any other cancellation."""
        if task is None or task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    @property
    def pending(self) -> int:
        return len(self._reads)

    async def _reap(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.tick)
                if not self._reads:
                    return
                self._now += 1
                now = self._now
                for task, late in list(self._reads.items()):
                    if late <= now:
                        del self._reads[task]
                        self._expired.add(task)
                        task.cancel()
        finally:
            self._reaper = self._loop = None
