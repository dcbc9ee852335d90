"""HeadVouching: a block above the anchor counts as anchored only below a head that a
quorum of upstreams (the same hash from two or more) or the sync committee vouched
for, linked to the anchor. Two real HTTP upstreams serving the recorded chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bizra_node.validation.anchor import ExecutionClaim
from bizra_node.validation.canonical import CanonicalChain
from bizra_node.validation.headers import HeaderChain
from bizra_node.validation.trust import Anchor, AnchorSource
from bizra_node.validation.vouching import HeadVouching
from tests.support.recorded_chain import RecordedChain
from tests.support.recorded_headers import forge, header, header_upstream, pool_over, recorded_header

CHAIN = RecordedChain()
ANCHOR = 5


def block(number: int) -> Any:
    return header(recorded_header(CHAIN, number))


@dataclass(frozen=True)
class Claim:
    slot: int
    number: int
    block_hash: bytes


@asynccontextmanager
async def vouching_over(*forged: dict[int, dict[str, Any]], votes: bool = True,
                        claim: ExecutionClaim | None = None
                        ) -> AsyncIterator[tuple[HeadVouching, CanonicalChain]]:
    """One upstream per ``forged`` map (its blocks of another chain), anchor at 5."""
    async with AsyncExitStack() as stack:
        served = [await stack.enter_async_context(header_upstream(CHAIN, forged=f))
                  for f in forged]
        pool = await stack.enter_async_context(
            pool_over(*(s.url for s in served), head_quorum=2))
        canonical = CanonicalChain(1024)
        anchor = block(ANCHOR)
        canonical.set_anchor(anchor.number, anchor.hash, anchor.parent_hash)
        headers = HeaderChain(pool, canonical, walk_limit=64)
        vouching = HeadVouching(pool, canonical, headers, pool if votes else None,
                                lambda: claim)
        stack.push_async_callback(vouching.close)
        yield vouching, canonical


def anchor() -> Anchor:
    return Anchor(ANCHOR, block(ANCHOR).hash, AnchorSource.FIRST_USE)


async def test_at_or_below_the_anchor_needs_no_voucher() -> None:
    async with vouching_over({}, votes=False) as (vouching, _):
        assert await vouching.vouches(block(3), anchor())
        assert await vouching.vouches(block(ANCHOR), anchor())


async def test_a_block_two_upstreams_agree_on_is_vouched_and_linked() -> None:
    async with vouching_over({}, {}) as (vouching, canonical):
        assert await vouching.vouches(block(10), anchor())
        assert vouching.vouched == (10, block(10).hash)
        assert canonical.linked_down_to_anchor(10)
        assert await vouching.vouches(block(8), anchor())  # below the vouched head


async def test_upstreams_that_disagree_vouch_for_nothing() -> None:
    other = forge(recorded_header(CHAIN, 10), extraData="0x0bad")
    async with vouching_over({}, {10: other}) as (vouching, _):
        assert not await vouching.vouches(block(10), anchor())
        assert vouching.vouched is None


async def test_one_upstream_alone_vouches_for_nothing_above_the_anchor() -> None:
    async with vouching_over({}, votes=False) as (vouching, _):
        assert not await vouching.vouches(block(10), anchor())


async def test_the_sync_committee_vouches_for_what_it_signed_and_below() -> None:
    signed = Claim(slot=7, number=12, block_hash=block(12).hash)
    async with vouching_over({}, votes=False, claim=signed) as (vouching, _):
        assert await vouching.vouches(block(9), anchor())
        assert not await vouching.vouches(block(13), anchor())  # above what it signed
    lied = Claim(slot=7, number=12, block_hash=b"\x0b" * 32)
    async with vouching_over({}, votes=False, claim=lied) as (vouching, _):
        assert not await vouching.vouches(block(9), anchor())  # no such block 12 here
