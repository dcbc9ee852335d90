"""HeaderChain: headers fetched by number with their hashes recomputed, a header proven
canonical by parent links to the anchor (walked over, in either direction), one header
check for every verify hook (hooked_header), and a new head that does not link being a
reorg. Over real HTTP, from the recorded chain (tests/support/recorded_headers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bizra_node.errors import IntegrityFailure, UpstreamError, UpstreamUnavailable
from bizra_node.jsonrpc import RpcError
from bizra_node.validation.canonical import CanonicalChain
from bizra_node.validation.headers import HeaderChain, Reorg, hooked_header
from bizra_node.validation.trust import Anchor, AnchorSource, Check, TrustError
from tests.support.recorded_chain import RecordedChain
from tests.support.recorded_headers import TIP, forge, header, header_upstream, pool_over, recorded_header

CHAIN = RecordedChain()


def raw(number: int) -> dict[str, Any]:
    return recorded_header(CHAIN, number)


def anchor_at(number: int) -> Anchor:
    return Anchor(number, header(raw(number)).hash, AnchorSource.CHECKPOINT)


@asynccontextmanager
async def headers_over(*, walk_limit: int = 64,
                       forged: Mapping[int, dict[str, Any]] | None = None,
                       anchor: int | None = None) -> AsyncIterator[tuple[HeaderChain, list[str]]]:
    """A HeaderChain over one upstream serving the recorded headers; ``anchor``: the
    canonical chain's anchor set there (as ChainView.anchor does)."""
    async with header_upstream(CHAIN, forged=forged) as served, pool_over(served.url) as pool:
        chain = HeaderChain(pool, CanonicalChain(1024), walk_limit=walk_limit)
        if anchor is not None:
            h = header(raw(anchor))
            chain.canonical.set_anchor(h.number, h.hash, h.parent_hash)
        yield chain, served.asked


def test_a_hooked_header_is_missing_blamed_or_good() -> None:
    for absent in (None, RpcError(-32000, "header not found")):
        with pytest.raises(UpstreamError) as missing:
            hooked_header(absent, 3, "up")
        assert missing.value.kind == "missing" and missing.value.upstream == "up"
        assert not isinstance(missing.value, IntegrityFailure)
    with pytest.raises(IntegrityFailure) as altered:
        hooked_header({**raw(3), "gasUsed": "0x1"}, 3, "up")  # the hash no longer holds
    assert altered.value.check == Check.HEADER_HASH.value
    with pytest.raises(IntegrityFailure):
        hooked_header("0x1234", 3, "up")  # not an object
    good = hooked_header(raw(3), 3, "up")
    assert good.number == 3 and good.hash == bytes.fromhex(raw(3)["hash"][2:])


async def test_fetch_gives_each_header_by_number_with_its_hash_recomputed() -> None:
    async with headers_over() as (chain, _):
        got = await chain.fetch([1, 2, 3])
    assert sorted(got) == [1, 2, 3]
    assert all(got[n].number == n and got[n].hash == header(raw(n)).hash for n in got)
    assert got[3].parent_hash == got[2].hash


async def test_fetch_refuses_a_header_that_does_not_hash() -> None:
    async with headers_over(forged={2: {**raw(2), "gasUsed": "0x1"}}) as (chain, _):
        with pytest.raises(UpstreamUnavailable) as exc:
            await chain.fetch([1, 2, 3])
    assert exc.value.details["reason"] == "bad_header"


@pytest.mark.parametrize(("block", "anchor"), [(10, 15), (14, 3), (7, 7)])
async def test_a_canonical_header_is_proven_down_or_up_to_the_anchor(block: int,
                                                                     anchor: int) -> None:
    async with headers_over(anchor=anchor) as (chain, _):
        assert await chain.prove(header(raw(block)), anchor_at(anchor))
        assert chain.canonical.linked_down_to_anchor(block)


async def test_a_header_of_another_chain_fails_the_parent_link() -> None:
    other = forge(raw(10), extraData="0x0bad")  # hashes correctly; not this chain's block
    async with headers_over(anchor=15) as (chain, _):
        with pytest.raises(TrustError) as exc:
            await chain.prove(header(other), anchor_at(15))
    assert exc.value.check is Check.PARENT_LINK


async def test_a_header_past_the_walk_limit_is_not_proven_either_way() -> None:
    async with headers_over(walk_limit=4, anchor=15) as (chain, asked):
        assert await chain.prove(header(raw(2)), anchor_at(15)) is False
    assert "eth_getBlockByNumber" not in asked  # nothing walked


async def test_linked_runs_blame_an_upstream_whose_headers_do_not_link() -> None:
    # block 13 of another chain: it hashes, but 14's parent is not it
    async with headers_over(forged={13: forge(raw(13), extraData="0x0bad")}) as (chain, _):
        with pytest.raises(UpstreamUnavailable) as exc:
            await chain.fetch_linked(11, 14, anchor_at(10))
        assert exc.value.details["reason"] == "link_unavailable"
        assert chain.canonical.hash_at(13) is None  # nothing of the run was kept
    async with headers_over() as (chain, _):
        run = await chain.fetch_linked(11, 14, anchor_at(10))
    assert sorted(run) == [11, 12, 13, 14]


async def test_a_head_that_links_is_kept_and_one_that_does_not_is_a_reorg() -> None:
    # the upstream serves another chain from block 13 on (a reorg at fork 12)
    b13 = forge(raw(13), extraData="0x0bad")
    b14 = forge(raw(14), parentHash=b13["hash"])
    async with headers_over(anchor=5) as (chain, _):
        for n in range(6, TIP):
            assert await chain.on_head(header(raw(n))) is None  # kept: they link
        assert chain.canonical.tip == TIP - 1
    async with headers_over(anchor=5, forged={13: b13, 14: b14}) as (chain, _):
        seen: list[Reorg] = []
        chain.add_reorg_listener(seen.append)
        for n in range(6, TIP):
            await chain.on_head(header(raw(n)))
        b15 = forge(raw(15), parentHash=b14["hash"])
        reorg = await chain.on_head(header(b15))
    assert reorg is not None and seen == [reorg]
    assert reorg.fork == 12 and reorg.depth == 2 and not reorg.below_anchor
    assert reorg.dropped == (header(raw(13)).hash, header(raw(14)).hash)
    assert chain.canonical.hash_at(14) == header(b14).hash
