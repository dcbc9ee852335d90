"""The anchor: the one block hash everything the node proves is linked to.

Where it comes from, in order of preference:

* **checkpoint** -- ANCHOR_CHECKPOINT pins ``number:hash`` (checked by the operator by
  means they trust); newer finalized blocks become the anchor only once they are
  linked to it by parent hashes.
* **quorum** -- with two upstreams or more, the finalized block that ANCHOR_QUORUM of
  them agree on (same number, same hash, each hash recomputed from its header).
  Upstreams at different finalized heights are compared at the highest number a quorum
  of them has finalized.
* **first-use** -- with one upstream, its finalized block is trusted the first time it
  is seen; after that, newer finalized blocks must link back to it.
* **sync-committee** -- ANCHOR_SOURCE=beacon: the finalized execution block (number,
  hash) the beacon chain's sync committee signed, as the light client
  (bizra_node.consensus.BeaconSource, passed in as ``consensus``) last verified it. The
  upstreams only serve its header: one whose block at that number has another hash
  fails ``anchor_hash`` (an upstream integrity failure, counted against it; the pool
  asks the next), it never becomes the anchor. Until the light client has synced there
  is no anchor. Each anchor stands on the sync committee's signature, so it is not
  linked to the one before (a quorum's is not either).

The anchor is refreshed at most every Tuning.anchor_refresh seconds (4), on demand (callers await
:meth:`AnchorKeeper.anchor`, which answers from memory while fresh) and in the
background. Finality in answers is the anchor's number: a block at or below it is
final.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import IntegrityFailure, UpstreamError, UpstreamUnavailable
from ..jsonrpc import Call, RpcError
from .trust import Anchor, AnchorSource, Check, Header, TrustError, verify_header
from .upstreams import Upstreams

__all__ = ["AnchorConfig", "AnchorKeeper", "ConsensusHeads", "ExecutionClaim",
           "parse_checkpoint"]

log = logging.getLogger("bizra_node.validation")

_FINALIZED = Call("eth_getBlockByNumber", ("finalized", False))


def parse_checkpoint(text: str) -> tuple[int, bytes] | None:
    """ANCHOR_CHECKPOINT ``number:0xhash`` (empty: none). Raises ValueError."""
    text = text.strip()
    if not text:
        return None
    number, sep, block_hash = text.partition(":")
    raw = block_hash.strip().removeprefix("0x")
    if not sep or not number.strip().isascii() or not number.strip().isdigit() \
            or len(raw) != 64:
        raise ValueError("ANCHOR_CHECKPOINT must be NUMBER:0x<64 hex digits>")
    return int(number), bytes.fromhex(raw)


class ExecutionClaim(Protocol):
    """An execution block a light client verified (consensus.ExecutionHead)."""

    @property
    def slot(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def block_hash(self) -> bytes: ...


class ConsensusHeads(Protocol):
    """What the anchor reads of the light client (consensus.BeaconSource): the latest
    verified finalized and optimistic execution blocks, None until it has synced."""

    @property
    def finalized(self) -> ExecutionClaim | None: ...
    @property
    def optimistic(self) -> ExecutionClaim | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorConfig:
    upstreams: int = 1
    """How many upstreams there are (one: first use, unless a checkpoint is pinned)."""
    quorum: int = 2
    checkpoint: tuple[int, bytes] | None = None
    refresh: float = 2.0
    finality_depth: int = 64
    """Blocks behind the head taken as finalized when upstreams have no 'finalized' tag."""
    sync_committee: bool = False
    """ANCHOR_SOURCE=beacon: the light client's finalized block is the anchor."""

    def __post_init__(self) -> None:
        if self.quorum < 1 or self.refresh <= 0 or self.upstreams < 1:
            raise ValueError("AnchorConfig: quorum >= 1, refresh > 0, upstreams >= 1")

    @property
    def source(self) -> AnchorSource:
        if self.sync_committee:
            return AnchorSource.SYNC_COMMITTEE
        if self.checkpoint is not None:
            return AnchorSource.CHECKPOINT
        if self.upstreams >= 2 and self.quorum >= 2:
            return AnchorSource.QUORUM
        return AnchorSource.FIRST_USE


Link = Callable[[Header, Header], Awaitable[None]]
"""(older anchor header, newer finalized header) -> None once the newer one is linked
to the older by parent hashes; raises TrustError(parent_link) when it is not."""


class AnchorKeeper:
    def __init__(self, upstreams: Upstreams, config: AnchorConfig, link: Link,
                 consensus: ConsensusHeads | None = None) -> None:
        if config.sync_committee and consensus is None:
            raise ValueError("AnchorKeeper: a sync-committee anchor needs the light client")
        self._up = upstreams
        self.config = config
        self.source = config.source
        self._consensus = consensus
        self._link = link
        self.current: Anchor | None = None
        self.header: Header | None = None
        self._at = 0.0
        self._refreshing: asyncio.Task[Anchor | None] | None = None
        self.failures = 0
        """Refreshes in a row that could not establish a newer anchor."""

    def expire(self) -> None:
        """The next :meth:`anchor` refreshes (the light client's finalized block moved)."""
        self._at = 0.0

    def forget(self) -> None:
        """Drop the anchor (it was reorged away): the next :meth:`anchor` establishes one
        without linking it to the old."""
        self.current = None
        self.header = None
        self._at = 0.0

    @property
    def fresh(self) -> bool:
        return self.current is not None and time.monotonic() - self._at < self.config.refresh

    async def anchor(self) -> Anchor | None:
        """The anchor, from memory while fresh; else refreshed (one refresh at a time).
        None when none could be established yet (answers are then not anchored)."""
        if self.fresh:
            return self.current
        task = self._refreshing
        if task is None:
            task = self._refreshing = asyncio.ensure_future(self._refresh())
            task.add_done_callback(self._refreshed)
        return await asyncio.shield(task)

    def _refreshed(self, task: asyncio.Task[Anchor | None]) -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()

    async def _refresh(self) -> Anchor | None:
        try:
            if self.source is AnchorSource.SYNC_COMMITTEE:
                candidate = await self._signed()
            elif self.source is AnchorSource.QUORUM:
                candidate = await self._quorum()
            else:
                candidate = await self._finalized_header()
            if candidate is not None:
                await self._adopt(candidate)
                self.failures = 0
        except (TrustError, UpstreamError, UpstreamUnavailable, IntegrityFailure, ValueError,
                TypeError, KeyError) as exc:
            self.failures += 1
            (log.warning if self.failures in (1, 10, 100) else log.debug)(
                "anchor not refreshed (%s): %s", self.source.value, exc,
                extra={"anchor": self.current.number if self.current else None})
        self._at = time.monotonic()
        return self.current

    async def _adopt(self, header: Header) -> None:
        """Make ``header`` the anchor, linked to the one before where trust is carried
        forward (checkpoint, first use)."""
        now = self.header
        if now is not None and header.number <= now.number:
            if header.number == now.number and header.hash != now.hash:
                log.critical("finalized block %d changed: 0x%s, was 0x%s (a reorg below "
                             "finality, or a lying upstream)", header.number,
                             header.hash.hex(), now.hash.hex())
            return  # never backwards
        if now is None and self.source is AnchorSource.CHECKPOINT:
            number, pinned = self.config.checkpoint  # type: ignore[misc]
            checkpoint = await self._header_at(number)
            if checkpoint.hash != pinned:
                log.critical("the upstream's block %d is 0x%s, not the pinned checkpoint 0x%s",
                             number, checkpoint.hash.hex(), pinned.hex())
                raise TrustError(Check.PARENT_LINK, f"block {number} is not the checkpoint")
            now = checkpoint
            self._set(checkpoint)
        if now is not None and self.source in (AnchorSource.CHECKPOINT, AnchorSource.FIRST_USE):
            await self._link(now, header)
        self._set(header)

    def _set(self, header: Header) -> None:
        self.header = header
        self.current = Anchor(number=header.number, hash=header.hash, source=self.source)

    async def _header_at(self, number: int) -> Header:
        (raw,) = await self._up.batch([Call("eth_getBlockByNumber", (hex(number), False))])
        if not isinstance(raw, dict):
            raise UpstreamUnavailable(f"no header for block {number}")
        return verify_header(raw)

    async def _signed(self) -> Header | None:
        """The header of the light client's finalized execution block, as an upstream
        serves it and only if its hash is the one signed (None before the light client
        has synced)."""
        assert self._consensus is not None
        claim = self._consensus.finalized
        if claim is None:
            return None
        number, signed = claim.number, claim.block_hash
        found: list[Header] = []

        async def same_block(answers: list[Any], upstream: str) -> None:
            if answers[0] is None or isinstance(answers[0], RpcError):  # not there yet
                raise UpstreamError(f"upstream does not have block {number}", kind="missing",
                                    upstream=upstream)
            try:
                header = verify_header(answers[0])
            except TrustError as exc:
                raise IntegrityFailure(exc.check.value, exc.message) from None
            except (TypeError, KeyError, ValueError):
                raise IntegrityFailure(Check.HEADER_HASH.value,
                                       f"no well-formed header for block {number}") from None
            if header.number != number or header.hash != signed:
                log.warning("upstream %s serves 0x%s as block %d; the sync committee signed "
                          "0x%s: refused (an integrity failure, not a new anchor)", upstream,
                          header.hash.hex(), number, signed.hex())
                raise IntegrityFailure(Check.ANCHOR_HASH.value,
                                       f"block {number} is 0x{header.hash.hex()}, the sync "
                                       f"committee signed 0x{signed.hex()}")
            found.append(header)

        await self._up.batch([Call("eth_getBlockByNumber", (hex(number), False))],
                             verify=same_block)
        return found[-1]

    async def _finalized_header(self) -> Header:
        """The upstreams' finalized block (through the pool, with failover)."""
        (raw,) = await self._up.batch([_FINALIZED])
        if isinstance(raw, RpcError) or raw is None:  # no 'finalized' tag: head - depth
            (head,) = await self._up.batch([Call("eth_blockNumber")])
            number = max(int(head, 16) - self.config.finality_depth, 0)
            return await self._header_at(number)
        return verify_header(raw)

    async def _quorum(self) -> Header | None:
        """The finalized block ``quorum`` upstreams agree on, or None."""
        need = self.config.quorum
        seen = await self._each([_FINALIZED])
        votes = Counter((h.number, h.hash) for h in seen.values())
        for (number, block_hash), count in votes.most_common():
            if count >= need:
                return next(h for h in seen.values()
                            if (h.number, h.hash) == (number, block_hash))
        numbers = sorted((h.number for h in seen.values()), reverse=True)
        if len(numbers) < need:
            log.warning("anchor: %d upstream(s) answered, %d needed for a quorum",
                        len(numbers), need)
            return None
        target = numbers[need - 1]  # the highest number `need` of them have finalized
        at = await self._each([Call("eth_getBlockByNumber", (hex(target), False))])
        agreeing = Counter(h.hash for h in at.values() if h.number == target)
        if agreeing:
            block_hash, count = agreeing.most_common(1)[0]
            if count >= need:
                return next(h for h in at.values() if h.hash == block_hash)
        log.warning("anchor: no %d upstreams agree on block %d", need, target)
        return None

    async def _each(self, calls: list[Call]) -> dict[str, Header]:
        """Each upstream's answer to ``calls[0]`` as a verified header (those that did
        not answer, or answered a header that does not hash, are left out)."""
        out: dict[str, Header] = {}
        for name, answers in (await self._up.ask_each(calls)).items():
            if not answers or not isinstance(answers[0], dict):
                continue
            try:
                out[name] = verify_header(answers[0])
            except TrustError as exc:
                log.warning("anchor: %s answered a finalized header that fails %s", name,
                            exc.check.value)
        return out
