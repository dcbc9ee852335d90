"""What a reorg changes, everywhere it has to change.

The chain view's HeaderChain notices a reorg (a new head that does not link to what was
kept) and finds its fork point; :class:`ReorgHandler` then:

* drops from this worker's L1 every answer that depends on a replaced block
  (``Entry.block``: a transaction's block, the block itself, the block state was read
  at, the head for answers "as of now"), and from Redis every entry noted at a replaced
  block (one node does it for all);
* tells every other worker and node over Redis pub/sub (one channel per network:
  ``<prefix>:v<format>:<network>:reorgs``), which drop the same from their L1; notices
  are sealed with the cache's MAC (CACHE_SECRET) like its entries, so whoever else can
  publish on Redis cannot make the nodes drop their caches, and a notice older than
  NOTICE_MAX_AGE or seen before is a replay and ignored; a receiving worker deletes the
  Redis entries from the fork on too (another node may have written an old-chain answer
  after the noticing node's delete);
* marks the validation records of the replaced blocks (reorged, the fork, the replacing
  hash);
* counts it (``chain_reorgs_total{depth}``) and, when the fork is below the finalized
  anchor, treats it as an incident: a critical log line,
  ``chain_reorgs_below_finality_total``, final answers above the fork dropped too, and
  finality forgotten down to the fork until a new anchor is established.

While the pub/sub feed is down, news from other nodes may be missed: non-final answers
are then kept at most TTL_HEAD (``TieredCache.short_ttls``), /ready says so, and when
the feed is back every non-final L1 entry is dropped (caught up).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from ..cache import TieredCache
from ..observability import NodeMetrics, Throttle
from .chain_view import ChainView
from .headers import Reorg

__all__ = ["Notice", "ReorgHandler", "depth_label"]

log = logging.getLogger("bizra_node.validation")

MarkReorged = Callable[[int, int, Sequence[tuple[int, bytes, bytes | None]]], Awaitable[int]]
"""(network id, fork, [(number, replaced hash, replacing hash or None)]) -> rows marked."""
Publish = Callable[[bytes], Awaitable[Any]]

NOTICE_MAX_AGE = 30.0
"""Seconds after which a notice is refused as a replay (notices arrive in ms; pub/sub
keeps nothing for a listener that was away)."""
_NOTICES_REMEMBERED = 256

REPLACING_WAIT = 5.0
"""Seconds the records' marking waits for the replacing blocks to be linked."""

_DEPTHS = ((1, "1"), (2, "2"), (5, "3-5"), (10, "6-10"), (64, "11-64"))


def depth_label(depth: int) -> str:
    """A bounded label for a reorg's depth."""
    for top, label in _DEPTHS:
        if depth <= top:
            return label
    return ">64"


class Notice(msgspec.Struct, rename="camel", frozen=True):
    """A reorg told to the other workers and nodes."""

    first: int
    """The first replaced block: entries depending on it or later ones go."""
    final_too: bool
    at: float
    """When it was noticed (unix time), for the propagation metric."""
    origin: str
    """The worker that noticed it (it ignores its own notice)."""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Notice).decode


class ReorgHandler:
    def __init__(self, chain: ChainView, cache: TieredCache, metrics: NodeMetrics, *,
                 network_id: int, mark_reorged: MarkReorged | None = None,
                 publish: Publish | None = None, channel: str = "") -> None:
        self._chain = chain
        self._cache = cache
        self._metrics = metrics
        self._network_id = network_id
        self._mark_reorged = mark_reorged
        self._publish = publish
        self._channel = channel
        """The pub/sub channel's name, under which notices are sealed."""
        self._forged = Throttle(1.0)
        self._seen: deque[tuple[str, float]] = deque(maxlen=_NOTICES_REMEMBERED)
        """(origin, at) of the latest notices acted on: a replay within the age limit."""
        self.origin = os.urandom(8).hex()
        self._tasks: set[asyncio.Task[None]] = set()
        metrics.chain_reorgs_below_finality.preset(())
        metrics.chain_reorgs.preset(*((label,) for _, label in _DEPTHS), (">64",))
        metrics.cache_reorg_invalidated.preset(("l1",), ("l2",))

    # --- a reorg this worker noticed --------------------------------------------------
    def on_reorg(self, reorg: Reorg) -> None:
        """A reorg listener of the HeaderChain (wired in app/network.py)."""
        self._metrics.chain_reorgs.inc((depth_label(reorg.depth),))
        first = reorg.fork + 1
        if reorg.below_anchor:
            self._metrics.chain_reorgs_below_finality.inc(())
            self._chain.forget_finality(reorg.fork)
        dropped = self._cache.invalidate_from(first, final_too=reorg.below_anchor)
        log.info("reorg: %d cached answers dropped from block %d on", dropped, first,
                 extra={"fork": reorg.fork, "depth": reorg.depth})
        task = asyncio.ensure_future(self._spread(reorg, first))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spread(self, reorg: Reorg, first: int) -> None:
        """Redis, the other workers and nodes, the records: none may fail the others."""
        try:
            await self._cache.invalidate_l2_from(first)
        except Exception as exc:
            log.warning("reorg: Redis entries not dropped: %s", type(exc).__name__)
        if self._publish is not None:
            notice = Notice(first=first, final_too=reorg.below_anchor, at=time.time(),
                            origin=self.origin)
            try:
                await self._publish(self._cache.seal(self._channel, _encode(notice)))
            except Exception as exc:
                log.warning("reorg: other nodes not told: %s", type(exc).__name__)
        if self._mark_reorged is not None:
            replaced = await self._replacing(first, reorg.dropped)
            try:
                marked = await self._mark_reorged(self._network_id, reorg.fork, replaced)
                log.info("reorg: %d validation records marked", marked)
            except Exception as exc:
                log.warning("reorg: records not marked: %s", type(exc).__name__)

    async def _replacing(self, first: int, dropped: Sequence[bytes]
                         ) -> list[tuple[int, bytes, bytes | None]]:
        """(number, replaced hash, replacing hash) for each replaced block. A reorg is
        often noticed on the first block of the new branch, before the rest arrive: the
        replacing hashes are taken from the canonical chain as the follower links them,
        waiting at most ``REPLACING_WAIT`` s (then None: the new chain is shorter)."""
        canonical = self._chain.canonical
        numbers = range(first, first + len(dropped))
        deadline = time.monotonic() + REPLACING_WAIT
        while (any(canonical.hash_at(n) is None for n in numbers)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.1)
        return [(n, old, canonical.hash_at(n)) for n, old in zip(numbers, dropped, strict=True)]

    # --- a reorg another worker or node noticed --------------------------------------
    def on_notice(self, data: bytes) -> None:
        payload = self._cache.unseal(self._channel, data)
        try:
            if payload is None:
                raise ValueError("its MAC does not hold (not sealed with this CACHE_SECRET)")
            notice = _decode(payload)
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            suppressed = self._forged.allow("notice")
            if suppressed is not None:
                log.warning("reorg: ignored a message on the reorg channel: %s", exc,
                            extra={"channel": self._channel, "suppressed": suppressed})
            return
        if notice.origin == self.origin:
            return
        age = time.time() - notice.at
        seen = (notice.origin, notice.at)
        if age > NOTICE_MAX_AGE or seen in self._seen:  # a replay of a genuine notice
            suppressed = self._forged.allow("replay")
            if suppressed is not None:
                log.warning("reorg: ignored a notice %.1f s old or seen before (a replay?)",
                            age, extra={"channel": self._channel, "suppressed": suppressed})
            return
        self._seen.append(seen)
        dropped = self._cache.invalidate_from(notice.first, final_too=notice.final_too)
        self._metrics.reorg_propagation.observe(max(age, 0.0))
        log.debug("reorg notice: %d cached answers dropped from block %d on", dropped,
                  notice.first)
        # another node may have written an old-chain answer to Redis after the noticing
        # node's delete and before this notice: delete again, after this worker's own
        # pending writes (invalidate_l2_from waits for them)
        task = asyncio.ensure_future(self._drop_l2(notice.first))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drop_l2(self, first: int) -> None:
        try:
            await self._cache.invalidate_l2_from(first)
        except Exception as exc:
            log.warning("reorg: Redis entries not dropped: %s", type(exc).__name__)

    # --- the feed ------------------------------------------------------------------------
    def feed_lost(self) -> None:
        """News may be missed from now on: keep what can change only briefly."""
        self._cache.short_ttls = True

    def feed_back(self) -> None:
        """Caught up: forget what may have been missed, then cache as usual."""
        dropped = self._cache.forget_recent()
        self._cache.short_ttls = False
        log.info("reorg notices: back; %d answers that could have changed dropped", dropped)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
