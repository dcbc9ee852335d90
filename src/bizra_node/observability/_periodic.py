"""A background call every N seconds on the running loop (metrics flush, memory guard)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

__all__ = ["Periodic"]


class Periodic:
    """Calls ``fn`` every ``interval`` seconds until stopped. An exception is logged
    and the next call happens as planned: a failing check never ends the loop."""

    def __init__(self, fn: Callable[[], object], interval: float, name: str,
                 logger: logging.Logger) -> None:
        self._fn = fn
        self.interval = interval
        self._name = name
        self._log = logger
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self._fn()
            except Exception:
                self._log.exception("%s failed", self._name)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
