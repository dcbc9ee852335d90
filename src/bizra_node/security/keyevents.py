"""Key events over Redis pub/sub: a revocation (or a new key) reaches every worker of
every node at once instead of at its next refresh.

Messages on ``<prefix>:api-keys``: ``revoke <keyed hash, hex>`` or ``changed``. The
hash is not a secret's stand-in anyone can use (a key is checked by hashing it under
the server secret), so publishing it is safe. Losing a message (Redis down, a worker
reconnecting) is harmless: the periodic refresh from PostgreSQL catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.client import PubSub

from ..resilience import Periodic

__all__ = ["KeyEvents", "channel_name", "publish_key_event"]

log = logging.getLogger("bizra_node.security")


def channel_name(prefix: str) -> str:
    return f"{prefix}:api-keys"


async def publish_key_event(redis: Any, prefix: str, message: str) -> int:
    """Publish ``message`` with ``redis`` (a client of cache.connect_redis); returns how
    many subscribers got it."""
    return int(await redis.publish(channel_name(prefix), message.encode("ascii")))


class KeyEvents:
    """Subscribes to the key channel and hands each message to ``handler``;
    reconnects every ``retry`` s after a failure. ``open_pubsub`` makes a PubSub (the
    node passes cache.open_pubsub over a client without a socket timeout, so any Redis
    topology works)."""

    def __init__(self, open_pubsub: Callable[[], Awaitable[PubSub]], prefix: str,
                 handler: Callable[[bytes], None], *, retry: float = 1.0) -> None:
        self._open_pubsub = open_pubsub
        self.channel = channel_name(prefix)
        self._handler = handler
        self._loop = Periodic("api-keys-events", self._listen, retry, logger=log, first_delay=0)
        self.subscribed = asyncio.Event()
        self._lost = False

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _listen(self) -> None:
        """Listens until the connection fails (then the loop calls again)."""
        pubsub: PubSub | None = None
        try:
            pubsub = await self._open_pubsub()
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            if self._lost:
                self._lost = False
                log.info("API key events: subscribed again")
                self._handler(b"changed")  # messages may have been missed meanwhile
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                if message is not None and message.get("type") == "message":
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self._handler(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._lost:
                log.warning("API key events: connection lost (%s); the periodic refresh "
                            "covers until it is back", type(exc).__name__)
            self._lost = True
            self.subscribed.clear()
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
