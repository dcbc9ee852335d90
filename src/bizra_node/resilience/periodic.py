"""Background work on the running loop: every N seconds, until stopped.

:class:`Periodic` is the one way the node runs recurring work (metrics flush, memory
guard, database monitor, replica checks, partition upkeep, the pool floor keeper,
upstream head polls, reconnect attempts). ``fn`` may be a plain function or a
coroutine function. An exception from ``fn`` is logged with its traceback and the
next call happens as planned: a failing check never ends the loop. ``stop()``
cancels the task and waits until it has finished, so nothing runs after it returns.

``interval`` may be changed between calls (a reconnect loop backs off by raising
it); ``finish()`` called from inside ``fn`` ends the loop after that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Periodic", "cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Periodic:
    """Calls ``fn`` every ``interval`` seconds (the first call after ``first_delay``,
    default ``interval``) until stopped or finished."""

    __slots__ = ("_done", "_first", "_fn", "_log", "_task", "interval", "name")

    def __init__(self, name: str, fn: Callable[[], Awaitable[object] | object], interval: float,
                 *, logger: logging.Logger, first_delay: float | None = None) -> None:
        if interval <= 0:
            raise ValueError(f"{name}: interval must be positive (got {interval})")
        self.name = name
        self.interval = interval
        self._fn = fn
        self._first = interval if first_delay is None else first_delay
        self._log = logger
        self._task: asyncio.Task[None] | None = None
        self._done = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def finish(self) -> None:
        """End the loop after the current call (for work that succeeds once)."""
        self._done = True

    def start(self) -> None:
        if self._task is None:
            self._done = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        await asyncio.sleep(self._first)
        while True:
            try:
                outcome = self._fn()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                self._log.exception("%s failed", self.name)
            if self._done:
                return
            await asyncio.sleep(self.interval)
