"""A reorg drops every cached answer that depends on a replaced block, in L1 and in
Redis, and the node answers from the new chain. TTL_RECENT and L1_MAX_TTL are set long,
so only invalidation can explain a fresh answer."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from bizra_node.devnet import rpc, wait_receipt
from bizra_node.validation.headers import Reorg
from bizra_node.validation.reorgs import Notice
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node, tuned
from tests.support.redis_server import RedisServer
from tests.support.reorgs import signed_transfer, until, upstream_block, upstream_receipt

LONG = {"ttl_recent": 3600, "ttl_not_found": 3600, "l1_max_ttl": 3600}


async def tx_answer(client: httpx.AsyncClient, tx_hash: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/transactions/{tx_hash}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


async def block_answer(client: httpx.AsyncClient, number: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/blocks/{number}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"]["data"])


async def rpc_call(client: httpx.AsyncClient, method: str, *params: Any) -> Any:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


@pytest.mark.parametrize(("depth", "moved"), [(1, False), (3, True), (10, True), (10, False)])
async def test_a_transaction_whose_block_was_replaced_is_answered_from_the_new_chain(
        deep_devnet: Devnet, depth: int, moved: bool) -> None:
    url, accounts = deep_devnet.url, deep_devnet.manifest.accounts
    async with running_node(make_settings(url, **FOLLOW_HEADS, **LONG)) as (node, client):
        seen: list[Reorg] = []
        node.chain.headers.add_reorg_listener(seen.append)
        raw = signed_transfer(url, accounts[3], accounts[4])
        tx_hash = rpc(url, "eth_sendRawTransaction", [raw])
        receipt = wait_receipt(url, tx_hash)
        number, old_hash = int(receipt["blockNumber"], 16), receipt["blockHash"]
        await until(lambda: node.chain.canonical.hash_at(number) is not None, what="followed")
        # every kind of answer that names the block, cached
        for _ in range(2):
            answer = await tx_answer(client, tx_hash)
            assert answer["data"]["blockHash"] == old_hash
            assert (await block_answer(client, number))["hash"] == old_hash
            assert (await rpc_call(client, "eth_getTransactionReceipt", tx_hash))[
                "blockHash"] == old_hash
            assert (await rpc_call(client, "eth_getBlockByNumber", hex(number), False))[
                "hash"] == old_hash
        balance = await rpc_call(client, "eth_getBalance", accounts[4], hex(number))

        rpc(url, "anvil_reorg", [depth, [[raw, depth // 2]] if moved else []])
        await until(lambda: len(seen) == 1, what="reorg noticed")
        assert seen[0].fork == number - depth and seen[0].depth == depth

        new = upstream_receipt(url, tx_hash)
        assert (new is not None) == moved
        answer = await tx_answer(client, tx_hash)
        if moved:
            assert new is not None
            assert answer["data"]["blockHash"] == new["blockHash"] != old_hash
            assert answer["data"]["blockNumber"] == int(new["blockNumber"], 16)
            assert (await rpc_call(client, "eth_getTransactionReceipt", tx_hash))[
                "blockHash"] == new["blockHash"]
        else:
            assert answer["valid"] is False and answer["error"] == "Transaction not found"
            assert await rpc_call(client, "eth_getTransactionReceipt", tx_hash) is None
        replacing = upstream_block(url, number)["hash"]
        assert replacing != old_hash
        assert (await block_answer(client, number))["hash"] == replacing
        assert (await rpc_call(client, "eth_getBlockByNumber", hex(number), False))[
            "hash"] == replacing
        assert await rpc_call(client, "eth_getBalance", accounts[4], hex(number)) == \
            rpc(url, "eth_getBalance", [accounts[4], hex(number)])
        assert moved or balance != rpc(url, "eth_getBalance", [accounts[4], hex(number)])
        assert node.metrics.chain_reorgs.get((str(depth) if depth <= 2 else
                                              "3-5" if depth <= 5 else "6-10",)) == 1
        assert node.metrics.cache_reorg_invalidated.get(("l1",)) >= 4


async def test_redis_entries_of_replaced_blocks_are_deleted(deep_devnet: Devnet) -> None:
    url, accounts = deep_devnet.url, deep_devnet.manifest.accounts
    redis = RedisServer().start()
    try:
        settings = make_settings(url, **FOLLOW_HEADS, **LONG, redis_url=redis.url)
        async with running_node(settings) as (node, client):
            seen: list[Reorg] = []
            node.chain.headers.add_reorg_listener(seen.append)
            tx_hash = rpc(url, "eth_sendTransaction",
                          [{"from": accounts[3], "to": accounts[4], "value": "0x1"}])
            number = int(wait_receipt(url, tx_hash)["blockNumber"], 16)
            await tx_answer(client, tx_hash)
            key = node.cache.key("transaction", tx_hash.lower())
            l2 = node.cache.l2
            assert l2 is not None
            await until(lambda: bool(node.cache._writes) is False, what="L2 written")
            assert await l2.get(key) is not None
            rpc(url, "anvil_reorg", [2, []])
            await until(lambda: len(seen) == 1, what="reorg noticed")
            await until(lambda: node.metrics.cache_reorg_invalidated.get(("l2",)) > 0,
                        what="L2 dropped")
            assert await l2.get(key) is None
            assert number > seen[0].fork
    finally:
        redis.stop()


async def test_without_the_feed_answers_are_cached_briefly_and_ready_says_so(
        deep_devnet: Devnet) -> None:
    redis = RedisServer().start()
    try:
        settings = make_settings(deep_devnet.url, **LONG, redis_url=redis.url)
        async with running_node(settings, tuning=tuned(l2_breaker_reset=0.2)) as (node, client):
            feed = node.reorgs.feed
            assert feed is not None
            await until(lambda: feed.live, what="subscribed")
            assert (await client.get("/ready")).json()["data"]["checks"]["reorgs"] == {
                "ok": True, "feed": "live"}
            redis.kill()
            await until(lambda: node.cache.short_ttls, what="feed lost")
            ready = (await client.get("/ready")).json()["data"]["checks"]["reorgs"]
            assert ready["feed"] == "down" and ready["ok"] is True
            # a non-final answer is now kept at most TTL_HEAD
            block = int(rpc(deep_devnet.url, "eth_blockNumber", []), 16)
            await client.get(f"/api/v1/blocks/{block}")
            entry = node.cache.peek("block", str(block))
            assert entry is not None and not entry.final
            left = node.cache.l1.ttl(("block", str(block)))
            assert left is not None and left <= node.cache.policy.head
            redis = RedisServer(redis.port).start()
            await until(lambda: feed.live and not node.cache.short_ttls, timeout=15,
                        what="feed back")
            assert node.cache.peek("block", str(block)) is None  # caught up: dropped
            assert (await client.get("/ready")).json()["data"]["checks"]["reorgs"]["feed"] == "live"
    finally:
        redis.stop()


async def test_a_reorg_below_finality_is_an_incident(deep_devnet: Devnet,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    url = deep_devnet.url
    settings = make_settings(url, **FOLLOW_HEADS, **LONG, trust_walk_limit=64)
    async with running_node(settings) as (node, client):
        seen: list[Reorg] = []
        node.chain.headers.add_reorg_listener(seen.append)
        head = int(rpc(url, "eth_blockNumber", []), 16)
        finalized = int(rpc(url, "eth_getBlockByNumber", ["finalized", False])["number"], 16)
        await until(lambda: node.chain.canonical.hash_at(head) is not None, what="followed")
        await node.chain.anchor()
        number = finalized - 2
        old = await block_answer(client, number)
        assert old["finalized"] is True
        entry = node.cache.peek("block", str(number))
        assert entry is not None and entry.final
        with caplog.at_level(logging.CRITICAL, logger="bizra_node"):
            rpc(url, "anvil_reorg", [head - finalized + 4, []])
            await until(lambda: len(seen) == 1, what="reorg noticed")
        assert seen[0].below_anchor
        assert any(r.levelno == logging.CRITICAL and "BELOW THE FINALIZED ANCHOR" in r.message
                   for r in caplog.records)
        assert node.metrics.chain_reorgs_below_finality.get(()) == 1
        assert node.cache.peek("block", str(number)) is None  # the final answer is gone
        assert node.chain.best_finalized <= seen[0].fork or node.chain.anchors.current is None \
            or node.chain.anchors.current.hash != bytes.fromhex(old["hash"][2:])
        new = await block_answer(client, number)
        assert new["hash"] == upstream_block(url, number)["hash"] != old["hash"]


async def test_notices_not_sealed_with_the_cache_secret_are_ignored(
        deep_devnet: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    """Whoever else can publish on Redis cannot make the nodes drop their caches, nor
    replay a genuine notice; a genuine one also deletes the Redis entries it covers."""
    redis = RedisServer().start()
    try:
        settings = make_settings(deep_devnet.url, **LONG, redis_url=redis.url)
        async with running_node(settings) as (node, client):
            feed = node.reorgs.feed
            assert feed is not None
            await until(lambda: feed.live, what="subscribed")
            block = int(rpc(deep_devnet.url, "eth_blockNumber", []), 16)
            await client.get(f"/api/v1/blocks/{block}")
            assert node.cache.peek("block", str(block)) is not None
            channel = node.reorgs.channel
            forged = Notice(first=0, final_too=True, at=time.time(), origin="someone")
            publisher = aioredis.from_url(redis.url)
            try:
                with caplog.at_level(logging.WARNING, logger="bizra_node"):
                    for message in (b"garbage", msgspec.json.encode(forged),
                                    node.cache.seal("another-channel",
                                                    msgspec.json.encode(forged))):
                        await publisher.publish(channel, message)
                    await asyncio.sleep(0.3)
                assert node.cache.peek("block", str(block)) is not None
                assert any("ignored a message on the reorg channel" in r.message
                           for r in caplog.records)
                stale = Notice(first=0, final_too=True, at=time.time() - 3600, origin="x")
                await publisher.publish(channel, node.cache.seal(
                    channel, msgspec.json.encode(stale)))
                await asyncio.sleep(0.3)
                assert node.cache.peek("block", str(block)) is not None  # a replay
                l2 = node.cache.l2
                assert l2 is not None
                key = node.cache.key("block", str(block))
                await node.cache.flush()
                assert await l2.get(key) is not None
                genuine = node.cache.seal(channel, msgspec.json.encode(forged))
                await publisher.publish(channel, genuine)
                await until(lambda: node.cache.peek("block", str(block)) is None,
                            what="a sealed notice acted on")
                # the receiver deletes the Redis entries from the fork on too
                await until(lambda: node.metrics.cache_reorg_invalidated.get(("l2",)) > 0,
                            what="L2 dropped by the receiver")
                assert await l2.get(key) is None
                mark = node.cache.reorg_mark
                await publisher.publish(channel, genuine)  # the same notice again
                await asyncio.sleep(0.3)
                assert node.cache.reorg_mark == mark
            finally:
                await publisher.aclose()
    finally:
        redis.stop()
