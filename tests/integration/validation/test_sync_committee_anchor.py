"""The sync-committee anchor (ANCHOR_SOURCE=beacon) over real upstreams (anvil, and a
lying proxy in front of it), with the light client's verified heads given directly:
the signed finalized block becomes the anchor once an upstream serves that very block;
an upstream that serves another block at that number is an integrity failure counted
against it (and the next upstream is asked), never a new anchor; nothing is anchored
before the light client has synced; the signed optimistic block is the head claim.
(tests/e2e/test_beacon_anchor.py runs the whole light client against a beacon chain.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from bizra_node.app import chain_view_config, upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.devnet import rpc
from bizra_node.observability import NodeMetrics
from bizra_node.validation import AnchorConfig, ChainView, ChainViewConfig
from bizra_node.validation.trust import AnchorSource
from tests.conftest import Devnet, make_settings
from tests.support.lying_proxy import lying_proxy


@dataclass(frozen=True)
class Claim:
    slot: int
    number: int
    block_hash: bytes


class Heads:
    """What the anchor reads of the light client, set by the test."""

    def __init__(self) -> None:
        self.finalized: Claim | None = None
        self.optimistic: Claim | None = None


def _block(url: str, number: int) -> Claim:
    block = rpc(url, "eth_getBlockByNumber", [hex(number), False])
    return Claim(slot=100 + number, number=number, block_hash=bytes.fromhex(block["hash"][2:]))


@asynccontextmanager
async def _view(heads: Heads, *urls: str) -> AsyncIterator[tuple[ChainView, NodeMetrics]]:
    settings = make_settings(",".join(urls), anchor_quorum=1)
    metrics = NodeMetrics()
    pool = UpstreamPool(upstream_config(settings), metrics)
    await pool.start()
    base = chain_view_config(settings)
    config = ChainViewConfig(anchor=AnchorConfig(upstreams=len(urls), quorum=1,
                                                 sync_committee=True, refresh=0.01),
                             walk_limit=base.walk_limit)
    view = ChainView(pool, config, consensus=heads)
    try:
        yield view, metrics
    finally:
        await view.close()
        await pool.close()


def _failures(metrics: NodeMetrics, check: str) -> dict[str, float]:
    return {name: v for (name, c), v in metrics.upstream_integrity_failures.items()
            if c == check and v}


async def test_the_signed_finalized_block_is_the_anchor(devnet: Devnet) -> None:
    heads = Heads()
    head = int(rpc(devnet.url, "eth_blockNumber", []), 16)
    async with _view(heads, devnet.url) as (view, _):
        assert await view.anchor() is None  # the light client has not synced
        assert view.head_claim is None
        heads.finalized = _block(devnet.url, head - 2)
        heads.optimistic = _block(devnet.url, head)
        anchor = await view.anchor()
        assert anchor is not None
        assert (anchor.source, anchor.number, anchor.hash) == (
            AnchorSource.SYNC_COMMITTEE, head - 2, heads.finalized.block_hash)
        assert anchor.source.value == "sync-committee"
        assert await view.finalized() == head - 2
        assert view.head_claim == heads.optimistic
        heads.finalized = _block(devnet.url, head - 1)
        view.anchors.expire()
        anchor = await view.anchor()
        assert anchor is not None and anchor.number == head - 1
        heads.finalized = _block(devnet.url, head - 3)  # never backwards
        view.anchors.expire()
        anchor = await view.anchor()
        assert anchor is not None and anchor.number == head - 1


async def test_an_upstream_serving_another_block_is_refused_and_the_next_asked(
        devnet: Devnet) -> None:
    heads = Heads()
    head = int(rpc(devnet.url, "eth_blockNumber", []), 16)
    number = head - 2
    other = rpc(devnet.url, "eth_getBlockByNumber", [hex(number + 1), False])
    async with lying_proxy(devnet.url) as liar:
        liar.lie("eth_getBlockByNumber", lambda params, block: other,
                 when=lambda params: params[0] == hex(number))
        async with _view(heads, liar.url, devnet.url) as (view, metrics):
            heads.finalized = _block(devnet.url, number)
            anchor = await view.anchor()
            assert anchor is not None and anchor.number == number
            assert anchor.hash == heads.finalized.block_hash
            assert sum(r.applied for r in liar.rules) >= 1
            assert list(_failures(metrics, "anchor_hash").values()) == [1]


async def test_a_hash_no_upstream_serves_never_becomes_the_anchor(devnet: Devnet) -> None:
    """The light client's block is not the upstreams' (they follow another chain, or the
    client was fed a fork): every upstream fails anchor_hash, and there is no anchor."""
    heads = Heads()
    head = int(rpc(devnet.url, "eth_blockNumber", []), 16)
    heads.finalized = Claim(slot=1, number=head - 1, block_hash=b"\x11" * 32)
    async with _view(heads, devnet.url) as (view, metrics):
        assert await view.anchor() is None
        assert view.anchors.failures == 1
        assert sum(_failures(metrics, "anchor_hash").values()) >= 1


def test_a_sync_committee_anchor_needs_the_light_client() -> None:
    from bizra_node.validation.anchor import AnchorKeeper

    async def link(older: Any, newer: Any) -> None:
        return None

    with pytest.raises(ValueError, match="light client"):
        AnchorKeeper(None, AnchorConfig(sync_committee=True), link)  # type: ignore[arg-type]


async def test_a_node_whose_beacon_api_is_down_starts_and_says_it_is_syncing(
        devnet: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    """The node starts after ``beacon_start_wait``, answers unanchored meanwhile, and is
    not ready: the beacon check says ``syncing``; each failed request is counted."""
    from bizra_node.devnet import free_port
    from tests.conftest import running_node, tuned

    dead = f"http://127.0.0.1:{free_port()}/path-with-a-key"
    settings = make_settings(devnet.url, anchor_source="beacon", beacon_api_urls=dead,
                             beacon_checkpoint="0x" + "ab" * 32, beacon_network="mainnet")
    caplog.set_level("WARNING", logger="bizra_node")
    async with running_node(settings, tuning=tuned(beacon_start_wait=0.3)) as (node, client):
        resp = await client.get("/ready")
        assert resp.status_code == 503
        beacon = resp.json()["data"]["checks"]["beacon"]
        assert (beacon["ok"], beacon["state"], beacon["finalized"]) == (False, "syncing", None)
        assert node.chain.anchors.current is None and node.chain.head_claim is None
        head = int(rpc(devnet.url, "eth_blockNumber", []), 16)
        answer = (await client.post("/api/v1/validate/block",
                                    json={"blockNumber": head})).json()["data"]
        assert answer["valid"] is True and "anchor" not in answer["verification"]
        genesis = (await client.post("/api/v1/validate/block",
                                     json={"blockNumber": 0})).json()["data"]
        assert genesis["data"]["finalized"] is False  # nothing is final before the committee
        assert await node.chain.finalized() == -1
        shown = dead.rsplit("/", 1)[0]  # scheme://host:port: no path in a label
        assert node.metrics.beacon_unavailable.get((shown,)) >= 1
        assert list(beacon["unavailable"]) == [shown]
        assert node.metrics.beacon_refusals.get(("signature",)) == 0  # preset, at 0
    logged = [r.getMessage() for r in caplog.records]
    assert any(shown + " unavailable" in m for m in logged), logged
    assert not any("path-with-a-key" in m for m in logged), logged
