"""The /rpc consistency promise: read-your-writes and monotonic reads.

Once the node has shown a client block N (a receipt's, a block's, eth_blockNumber),
no later 'latest' answer is older than N; a transaction sent through the node is
visible at once to eth_getTransactionCount(..., "pending") and to its receipt."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from eth_account import Account

from bizra_node.devnet import Anvil, rpc
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node
from tests.support.proxy import counting_proxy

KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"  # anvil account 2
SENDER = Account.from_key(KEY).address
TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


async def call(client: httpx.AsyncClient, method: str, *params: Any) -> Any:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    doc = resp.json()
    assert "error" not in doc, doc
    return doc["result"]


def signed(nonce: int, value: int = 1) -> str:
    raw = Account.sign_transaction({"to": TO, "value": value, "gas": 21_000, "nonce": nonce,
                                    "chainId": 31337, "maxFeePerGas": 10**10,
                                    "maxPriorityFeePerGas": 10**9}, KEY)
    return "0x" + bytes(raw.raw_transaction).hex()


async def receipt(client: httpx.AsyncClient, tx_hash: str) -> dict[str, Any]:
    for _ in range(500):
        found = await call(client, "eth_getTransactionReceipt", tx_hash)
        if found is not None:
            return dict(found)
        await asyncio.sleep(0.01)
    raise TimeoutError(tx_hash)


async def test_what_an_answer_shows_moves_latest_without_the_follower(
        fresh_devnet: Devnet) -> None:
    """Head following off and TTL_HEAD a minute: only the block numbers in the answers
    themselves can tell the node that the chain moved -- and they must."""
    settings = make_settings(fresh_devnet.url, head_follow_ws="off", head_follow_interval=60,
                             ttl_head=60, ttl_address=60)
    async with running_node(settings) as (_, client):
        for _ in range(3):
            head = int(await call(client, "eth_blockNumber"), 16)
            nonce = int(await call(client, "eth_getTransactionCount", SENDER, "latest"), 16)
            balance = int(await call(client, "eth_getBalance", TO, "latest"), 16)
            await call(client, "eth_getBlockByNumber", "latest", False)  # cached at head
            tx_hash = await call(client, "eth_sendRawTransaction", signed(nonce))
            mined = int((await receipt(client, tx_hash))["blockNumber"], 16)
            assert mined == head + 1
            assert int(await call(client, "eth_blockNumber"), 16) >= mined  # never older
            assert int(await call(client, "eth_getTransactionCount", SENDER, "latest"),
                       16) == nonce + 1
            assert int(await call(client, "eth_getBalance", TO, "latest"), 16) == balance + 1
            block = await call(client, "eth_getBlockByNumber", "latest", False)
            assert int(block["number"], 16) >= mined


async def test_a_sent_transaction_is_visible_at_once(fresh_devnet: Devnet) -> None:
    rpc(fresh_devnet.url, "evm_setAutomine", [False])
    async with running_node(make_settings(fresh_devnet.url)) as (_, client):
        nonce = int(await call(client, "eth_getTransactionCount", SENDER, "pending"), 16)
        await call(client, "eth_getTransactionCount", SENDER, "latest")
        tx_hash = await call(client, "eth_sendRawTransaction", signed(nonce))
        assert int(await call(client, "eth_getTransactionCount", SENDER, "pending"),
                   16) == nonce + 1
        assert (await call(client, "eth_getTransactionByHash", tx_hash))["blockNumber"] is None
        assert await call(client, "eth_getTransactionReceipt", tx_hash) is None
        rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
        mined = await call(client, "eth_getTransactionReceipt", tx_hash)  # not a cached null
        assert mined is not None and mined["status"] == "0x1"
        assert int(await call(client, "eth_getTransactionCount", SENDER, "latest"),
                   16) == nonce + 1


async def test_a_lagging_upstream_never_serves_an_older_latest(fresh_devnet: Devnet) -> None:
    """Upstream B is a real node one block behind A (anvil forked from A). Once the node
    has seen A's head, every 'latest' read is asked at that block: B cannot answer it
    (BlockOutOfRange, a lagging error) and the read goes to A. (HEAD_QUORUM 1: A's word
    moves the head; with the default quorum of two, the head would wait for B.)"""
    head = int(rpc(fresh_devnet.url, "eth_blockNumber"), 16)
    lagging = Anvil(extra_args=("--fork-url", fresh_devnet.url, "--fork-block-number", str(head)))
    lagging.start()
    try:
        before = int(rpc(fresh_devnet.url, "eth_getBalance", [TO, "latest"]), 16)
        nonce = int(rpc(fresh_devnet.url, "eth_getTransactionCount", [SENDER, "latest"]), 16)
        rpc(fresh_devnet.url, "eth_sendRawTransaction", [signed(nonce, 10**18)])
        while int(rpc(fresh_devnet.url, "eth_blockNumber"), 16) == head:
            await asyncio.sleep(0.01)
        async with counting_proxy(lagging.url) as b, counting_proxy(fresh_devnet.url) as a:
            a.delay = 0.02  # B answers first, so it is the one asked first
            settings = make_settings(f"{b.url},{a.url}", l1_cache_size=0, hedge_enabled=False,
                                     head_follow_interval=0.25, head_poll_interval=0.05,
                                     head_quorum=1)
            async with running_node(settings) as (node, client):
                for _ in range(200):
                    if node.chain.best_head > head:
                        break
                    await asyncio.sleep(0.02)
                assert int(await call(client, "eth_blockNumber"), 16) == head + 1
                balances = await asyncio.gather(*(call(client, "eth_getBalance", TO, "latest")
                                                  for _ in range(20)))
        assert {int(x, 16) for x in balances} == {before + 10**18}
        assert b.methods["eth_getBalance"] >= 1  # B was asked, and its answer was not served
    finally:
        lagging.stop()


async def test_latest_entries_another_worker_cached_stop_at_the_next_head(
        fresh_devnet: Devnet) -> None:
    """Two nodes share Redis (as two workers do). A caches a 'latest' balance in L2 at
    head N; a block changes it; B, whose own head follower saw N+1, must not serve A's
    entry -- nor may A, once it saw N+1."""
    import os

    import redis.asyncio as aioredis

    from tests.support.redis_server import SHARED_REDIS

    prefix = f"bizra-test-latest-{os.getpid()}-{os.urandom(4).hex()}"
    url = fresh_devnet.url
    settings = make_settings(url, redis_url=SHARED_REDIS, cache_key_prefix=prefix,
                             **FOLLOW_HEADS)
    try:
        async with running_node(settings) as (node_a, a), running_node(settings) as (node_b, b):
            await node_a.follower.settled()
            await node_b.follower.settled()
            before = int(await call(a, "eth_getBalance", TO, "latest"), 16)
            await node_a.cache.flush()  # the L2 write is done
            nonce = int(rpc(url, "eth_getTransactionCount", [SENDER, "latest"]), 16)
            head = int(rpc(url, "eth_blockNumber"), 16)
            rpc(url, "eth_sendRawTransaction", [signed(nonce, 5)])
            while int(rpc(url, "eth_blockNumber"), 16) == head:
                await asyncio.sleep(0.01)
            async with asyncio.timeout(5):
                while min(node_a.chain.best_head, node_b.chain.best_head) <= head:
                    await asyncio.sleep(0.01)
            assert int(await call(b, "eth_getBalance", TO, "latest"), 16) == before + 5
            assert int(await call(a, "eth_getBalance", TO, "latest"), 16) == before + 5
    finally:
        client = aioredis.Redis.from_url(SHARED_REDIS)
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
