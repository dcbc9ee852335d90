"""Key events over Redis pub/sub: a revocation (or a new key) reaches every worker of
every node at once instead of at its next refresh.

Messages on ``<prefix>:api-keys``: ``revoke <keyed hash, hex>`` or ``changed``. The
hash is not a secret's stand-in anyone can use (a key is checked by hashing it under
the server secret), so publishing it is safe. Losing a message (Redis down, a worker
reconnecting) is harmless: the periodic refresh from PostgreSQL catches up. The node
listens with cache.ChannelListener (wired in app/): security knows nothing of the cache.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHANGED", "key_channel", "publish_key_event"]

CHANGED = b"changed"
"""The message that makes every ring reload (also what a listener hands the ring when
it subscribed again after a gap: messages may have been missed)."""


def key_channel(prefix: str) -> str:
    return f"{prefix}:api-keys"


async def publish_key_event(redis: Any, prefix: str, message: str) -> int:
    """Publish ``message`` with ``redis`` (a client of cache.connect_redis); returns how
    many subscribers got it."""
    return int(await redis.publish(key_channel(prefix), message.encode("ascii")))
