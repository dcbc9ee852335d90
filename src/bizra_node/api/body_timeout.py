"""A deadline on reading request bodies, at the cost of a dict entry per read.

A body that never arrives in full (``Content-Length: 100`` and one byte sent, a
chunked body at a byte a second) would hold its request, and granian's slot for it,
forever. ``asyncio.timeout`` around each read bounds it but costs ~4 µs a request
(measured on this machine; ``loop.call_at`` ~1.3 µs), more than the rest of a cache
hit's body handling. Here a read registers its task and deadline in a dict (~0.5 µs
with ``current_task``); one reaper task, alive only while reads are pending, wakes
every ``tick`` s and cancels the reads past their deadline. The adapter tells that
cancellation from any other by ``expired`` (which also takes it back, ``uncancel``)
and answers 408. A deadline is therefore kept to within ``tick``.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["BodyTimeouts"]


class BodyTimeouts:
    __slots__ = ("_expired", "_reads", "_reaper", "tick", "timeout")

    def __init__(self, timeout: float | None, *, tick: float | None = None) -> None:
        self.timeout = timeout if timeout else None
        """Seconds a body may take to arrive (HTTP_BODY_TIMEOUT); None: no limit."""
        self.tick = tick if tick is not None else min(max((timeout or 1.0) / 10, 0.05), 1.0)
        self._reads: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._reaper: asyncio.Task[None] | None = None

    def begin(self) -> asyncio.Task[object] | None:
        """Register the current task's body read; pass what it returns to ``end``."""
        if self.timeout is None:
            return None
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under a server
            return None
        self._reads[task] = time.monotonic() + self.timeout
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap(),
                                                                  name="body-timeouts")
        return task

    def end(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            self._reads.pop(task, None)
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
            while self._reads:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                for task, deadline in list(self._reads.items()):
                    if deadline <= now and task not in self._expired:
                        self._reads.pop(task, None)
                        self._expired.add(task)
                        task.cancel()
        finally:
            self._reaper = None
