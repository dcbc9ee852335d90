"""Listening on a Redis pub/sub channel, for as long as the node runs.

:class:`ChannelListener` is the one way the node listens (API key events, reorg
invalidations): it subscribes with a PubSub made by :func:`open_pubsub` over a client
without a socket timeout (any REDIS_MODE), hands each message to ``handler``, and after
a failure reconnects every ``retry`` seconds. It says whether it is ``live``; on the way
down it calls ``on_lost`` once, and when it is back ``on_back`` (messages may have been
missed meanwhile: the caller catches up its own way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio.client import PubSub

from ..resilience import Periodic

__all__ = ["ChannelListener"]

log = logging.getLogger("bizra_node.cache")


class ChannelListener:
    def __init__(self, open_pubsub: Callable[[], Awaitable[PubSub]], channel: str,
                 handler: Callable[[bytes], None], *, what: str, retry: float = 1.0,
                 on_lost: Callable[[], None] | None = None,
                 on_back: Callable[[], None] | None = None) -> None:
        self._open_pubsub = open_pubsub
        self.channel = channel
        self._handler = handler
        self._what = what
        self._on_lost = on_lost
        self._on_back = on_back
        self._loop = Periodic(f"subscription {what}", self._listen, retry, logger=log,
                              first_delay=0)
        self.subscribed = asyncio.Event()
        self._lost = False

    @property
    def live(self) -> bool:
        return self.subscribed.is_set()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        self.subscribed.clear()

    async def _listen(self) -> None:
        """Listens until the connection fails (then the loop calls again)."""
        pubsub: PubSub | None = None
        try:
            pubsub = await self._open_pubsub()
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            if self._lost:
                self._lost = False
                log.info("%s: subscribed again", self._what)
                if self._on_back is not None:
                    self._on_back()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    if isinstance(data, bytes):
                        try:
                            self._handler(data)
                        except Exception:  # one bad message never ends the listening
                            log.exception("%s: handler failed", self._what)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._lost:
                log.warning("%s: connection lost (%s); listening again every %.0f s",
                            self._what, type(exc).__name__, self._loop.interval)
                if self._on_lost is not None:
                    self._on_lost()
            self._lost = True
            self.subscribed.clear()
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
