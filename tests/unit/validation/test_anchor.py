"""AnchorKeeper: the anchor from first use or a pinned checkpoint, moved only to a
finalized block linked to it by parent hashes; a finalized block that does not descend
from it, or another block at the checkpoint's number, is an incident and the anchor
stays. Over real HTTP, from the recorded chain (tests/support/recorded_headers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bizra_node.validation.anchor import (
    CHECKPOINT,
    UNLINKED,
    AnchorConfig,
    AnchorKeeper,
    parse_checkpoint,
)
from bizra_node.validation.trust import AnchorSource, Header
from tests.support.recorded_chain import RecordedChain
from tests.support.recorded_headers import Served, forge, header, header_upstream, pool_over, recorded_header

CHAIN = RecordedChain()


def hash_of(number: int) -> bytes:
    return header(recorded_header(CHAIN, number)).hash


class Kept:
    """The keeper's ``keep`` callback and its incident listener, recorded."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []
        self.incidents: list[str | None] = []

    def keep(self, run: list[Header]) -> None:
        self.runs.append([h.number for h in run])


@asynccontextmanager
async def keeper_over(config: AnchorConfig, *, finalized: int | None = 10
                      ) -> AsyncIterator[tuple[AnchorKeeper, Served, Kept]]:
    async with header_upstream(CHAIN, finalized=finalized) as served, \
            pool_over(served.url) as pool:
        kept = Kept()
        keeper = AnchorKeeper(pool, config, kept.keep)
        keeper.add_incident_listener(kept.incidents.append)
        yield keeper, served, kept


def test_a_checkpoint_is_number_colon_hash() -> None:
    assert parse_checkpoint("") is None
    assert parse_checkpoint(" 12:0x" + "ab" * 32) == (12, b"\xab" * 32)
    for bad in ("12", "x:0x" + "ab" * 32, "12:0xabc", "-1:0x" + "ab" * 32, "١٢:0x" + "ab" * 32):
        with pytest.raises(ValueError):
            parse_checkpoint(bad)


def test_the_source_follows_the_configuration() -> None:
    assert AnchorConfig().source is AnchorSource.FIRST_USE
    assert AnchorConfig(upstreams=3, quorum=2).source is AnchorSource.QUORUM
    assert AnchorConfig(upstreams=3, quorum=1).source is AnchorSource.FIRST_USE
    assert AnchorConfig(upstreams=3, checkpoint=(1, b"\x00" * 32)).source \
        is AnchorSource.CHECKPOINT
    with pytest.raises(ValueError):
        AnchorConfig(quorum=0)


async def test_first_use_trusts_the_first_finalized_block_then_moves_only_by_links() -> None:
    async with keeper_over(AnchorConfig(), finalized=10) as (keeper, served, kept):
        first = await keeper.anchor()
        assert first is not None and (first.number, first.hash) == (10, hash_of(10))
        assert first.source is AnchorSource.FIRST_USE and kept.runs == []
        served.finalized = 14
        assert (await keeper.anchor()) is first  # fresh: from memory
        keeper.expire()
        moved = await keeper.anchor()
    assert moved is not None and (moved.number, moved.hash) == (14, hash_of(14))
    assert kept.runs == [[10, 11, 12, 13, 14]] and kept.incidents == []  # from the old one


async def test_a_finalized_block_that_does_not_descend_is_an_incident() -> None:
    async with keeper_over(AnchorConfig(), finalized=10) as (keeper, served, kept):
        await keeper.anchor()
        served.forged[11] = forge(recorded_header(CHAIN, 11), parentHash="0x" + "0b" * 32)
        served.finalized = 14
        keeper.expire()
        after = await keeper.anchor()
    assert after is not None and after.number == 10  # the anchor stays
    assert kept.incidents == [UNLINKED] and keeper.incident is not None
    assert kept.runs == []


async def test_without_a_finalized_tag_the_block_finality_depth_behind_the_head() -> None:
    async with keeper_over(AnchorConfig(finality_depth=5), finalized=None) as (keeper, _, _k):
        anchor = await keeper.anchor()
    assert anchor is not None and anchor.number == 15 - 5


async def test_a_pinned_checkpoint_is_the_anchor_and_newer_ones_link_to_it() -> None:
    config = AnchorConfig(checkpoint=(5, hash_of(5)))
    async with keeper_over(config, finalized=9) as (keeper, _, kept):
        anchor = await keeper.anchor()
    assert anchor is not None and anchor.source is AnchorSource.CHECKPOINT
    assert (anchor.number, anchor.hash) == (9, hash_of(9))
    assert kept.runs == [[5], [5, 6, 7, 8, 9]] and kept.incidents == []


async def test_another_block_at_the_checkpoints_number_is_an_incident_not_an_anchor() -> None:
    config = AnchorConfig(checkpoint=(5, b"\x0b" * 32))
    async with keeper_over(config, finalized=9) as (keeper, _, kept):
        assert await keeper.anchor() is None
    assert kept.incidents == [CHECKPOINT] and keeper.failures == 1 and kept.runs == []
