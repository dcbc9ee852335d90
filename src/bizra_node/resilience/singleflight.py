"""Singleflight: concurrent calls for one key share one execution.

The first caller for a key starts the work in a task of its own; later callers
for the same key, while it runs, wait on that same task. Each caller waits through
``asyncio.shield``, so a caller that is cancelled (a client that disconnects, a
deadline that fires) only stops *its own* wait: the shared work and every other
waiter carry on. (cashews' thunder protection cancels everyone when the first
caller goes away; this is the fix for that.)

The result or the exception of the work is delivered to every waiter; nothing is
remembered once the work is done, so the next call after it starts afresh (caching
the result is the caller's job). Pure mechanism: no I/O, no policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """One in-flight execution per key.

    ``on_join(key)`` is called for every caller that joined work already in flight
    (a deduplicated request); ``joined`` counts them too.
    """

    __slots__ = ("_inflight", "joined", "on_join", "started")

    def __init__(self, on_join: Callable[[K], None] | None = None) -> None:
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self.on_join = on_join
        self.joined = 0
        """Callers that shared work started by another caller."""
        self.started = 0
        """Executions actually started."""

    def __len__(self) -> int:
        return len(self._inflight)

    def __contains__(self, key: object) -> bool:
        return key in self._inflight

    async def do(self, key: K, fn: Callable[..., Awaitable[V]], *args: Any) -> V:
        """``await fn(*args)`` once for all concurrent callers with ``key``.

        Passing ``fn`` and ``args`` separately (rather than a closure) keeps the
        joining path free of allocations.
        """
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(fn(*args))
            self._inflight[key] = task
            self.started += 1
            task.add_done_callback(self._finish_for(key))
        else:
            self.joined += 1
            if self.on_join is not None:
                self.on_join(key)
        # shield: cancelling this caller cancels only this await, not the task.
        return await asyncio.shield(task)

    def _finish_for(self, key: K) -> Callable[[asyncio.Task[V]], None]:
        def finish(task: asyncio.Task[V]) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]
            # Every waiter may have gone away: fetch the outcome so asyncio does not
            # log "exception was never retrieved" for work nobody waited for.
            if not task.cancelled():
                task.exception()

        return finish
