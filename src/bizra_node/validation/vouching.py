"""Which blocks above the anchor are vouched for (see chain_view.py, "Vouched blocks").

A block above the anchor is ``anchored`` only when it is an ancestor of (or is) a head
vouched for by more than one upstream -- the same hash at the vouched head's number from
HEAD_QUORUM (at least two) of them -- or by the sync committee; otherwise its answers
are ``consistent``. The vouched block is linked to the anchor by parent hashes (the
HeaderChain) before anything below it counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import UpstreamUnavailable
from ..jsonrpc import Call
from .anchor import ExecutionClaim
from .canonical import CanonicalChain
from .headers import HeaderChain
from .trust import Anchor, Header, TrustError, verify_header
from .upstreams import HeadVotes, Upstreams

__all__ = ["HeadVouching"]

log = logging.getLogger("bizra_node.validation")


class HeadVouching:
    def __init__(self, upstreams: Upstreams, canonical: CanonicalChain, headers: HeaderChain,
                 votes: HeadVotes | None, claim: Callable[[], ExecutionClaim | None]) -> None:
        self._up = upstreams
        self._canonical = canonical
        self._headers = headers
        self._votes = votes
        self._claim = claim
        """The sync committee's latest optimistic execution block (ChainView.head_claim)."""
        self.vouched: tuple[int, bytes] | None = None
        """The highest head (number, hash) more than one upstream vouched for."""
        self._vouching: asyncio.Task[None] | None = None

    async def vouches(self, header: Header, anchor: Anchor) -> bool:
        """Is ``header`` (already linked to ``anchor``) at or below the anchor, or an
        ancestor of a head the sync committee or a quorum of upstreams vouched for?"""
        if header.number <= anchor.number:
            return True
        claim = self._claim()
        if claim is not None and header.number <= claim.number \
                and await self._on_vouched(header, anchor, claim.number, claim.block_hash):
            return True
        votes = self._votes
        if votes is None or votes.head_quorum < 2:
            return False
        if self.vouched is None or header.number > self.vouched[0]:
            await self._vouch(header.number)
        vouched = self.vouched
        return vouched is not None and header.number <= vouched[0] \
            and await self._on_vouched(header, anchor, *vouched)

    async def close(self) -> None:
        pending = self._vouching
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)

    async def _on_vouched(self, header: Header, anchor: Anchor, number: int,
                          block_hash: bytes) -> bool:
        """Is ``header`` on the chain that links the vouched block (number, hash) to the
        anchor? The vouched block's header is fetched and linked when not kept yet."""
        chain = self._canonical
        if chain.hash_at(number) != block_hash or not chain.linked_down_to_anchor(number):
            try:
                fetched = (await self._headers.fetch([number]))[number]
                if fetched.hash != block_hash or not await self._headers.prove(fetched, anchor):
                    return False
            except (UpstreamUnavailable, TrustError) as exc:
                log.debug("the vouched block %d is not linked: %s", number, exc)
                return False
        return chain.hash_at(header.number) == header.hash \
            and chain.linked_down_to_anchor(header.number) \
            and chain.hash_at(number) == block_hash

    async def _vouch(self, wanted: int) -> None:
        """Ask every upstream for the block at the pool's vouched head, or at ``wanted``
        when that is higher (the heads known may be a poll old); the hash a quorum of
        them serve there becomes :attr:`vouched` (one round at a time)."""
        task = self._vouching
        if task is None:
            task = self._vouching = asyncio.ensure_future(self._vouch_round(wanted))
            task.add_done_callback(lambda _: setattr(self, "_vouching", None))
        await asyncio.shield(task)

    async def _vouch_round(self, wanted: int) -> None:
        votes = self._votes
        assert votes is not None
        number = votes.vouched_head()
        if number is None or number < wanted:
            number = wanted  # asking for the block itself tells who has reached it
        if self.vouched is not None and number <= self.vouched[0]:
            return
        answers = await self._up.ask_each([Call("eth_getBlockByNumber", (hex(number), False))])
        seen: dict[bytes, int] = {}
        for got in answers.values():
            if not got or not isinstance(got[0], dict):
                continue
            try:
                header = verify_header(got[0])
            except (TrustError, TypeError, KeyError, ValueError):
                continue
            if header.number == number:
                seen[header.hash] = seen.get(header.hash, 0) + 1
        agreed = [h for h, count in seen.items() if count >= max(votes.head_quorum, 2)]
        if len(agreed) == 1:
            self.vouched = (number, agreed[0])
        else:
            log.debug("no quorum of upstreams agrees on block %d", number)
