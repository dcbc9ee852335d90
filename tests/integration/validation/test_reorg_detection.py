"""The chain view follows new heads into its canonical chain and notices reorgs
(anvil_reorg: the last N blocks replaced), finding the fork point by asking for the
canonical headers below the new head; new heads' blocks are proven as they come."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from bizra_node.devnet import rpc, wait_receipt
from bizra_node.validation.headers import Reorg
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not reached"
        await asyncio.sleep(0.02)


def upstream_hash(url: str, number: int) -> bytes:
    return bytes.fromhex(rpc(url, "eth_getBlockByNumber", [hex(number), False])["hash"][2:])


@pytest.mark.parametrize("depth", [1, 3, 10])
async def test_a_reorg_is_noticed_and_the_canonical_chain_replaced(deep_devnet: Devnet,
                                                                   depth: int) -> None:
    url = deep_devnet.url
    settings = make_settings(url, **FOLLOW_HEADS)
    async with running_node(settings) as (node, _):
        seen: list[Reorg] = []
        node.chain.headers.add_reorg_listener(seen.append)
        head = int(rpc(url, "eth_blockNumber", []), 16)
        await until(lambda: node.chain.canonical.hash_at(head) == upstream_hash(url, head))
        old = [node.chain.canonical.hash_at(n) for n in range(head - depth + 1, head + 1)]
        rpc(url, "anvil_reorg", [depth, []])
        await until(lambda: len(seen) == 1)
        reorg = seen[0]
        assert reorg.fork == head - depth
        assert reorg.depth == depth
        assert list(reorg.dropped) == old
        for n in range(head - depth + 1, head + 1):
            assert node.chain.canonical.hash_at(n) == upstream_hash(url, n)
        assert node.chain.canonical.linked_down_to_anchor(head)


async def test_new_heads_blocks_are_proven_as_they_come(fresh_devnet: Devnet) -> None:
    url = fresh_devnet.url
    async with running_node(make_settings(url, **FOLLOW_HEADS)) as (node, _):
        tx = rpc(url, "eth_sendTransaction", [{"from": fresh_devnet.manifest.accounts[3],
                                              "to": fresh_devnet.manifest.accounts[4],
                                              "value": "0x1"}])
        block = wait_receipt(url, tx)["blockHash"]
        await until(lambda: bytes.fromhex(block[2:]) in node.prover._memo)
