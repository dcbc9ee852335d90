"""JSON-RPC filters served by the node: across two nodes sharing Redis (as two workers
do), two upstreams, and a node restart; every log given out exactly once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from bizra_node.app import Node
from bizra_node.devnet import rpc
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node, tuned
from tests.support.contracts import LOG_TOPIC, deploy_logger, emit
from tests.support.proxy import counting_proxy
from tests.support.redis_server import SHARED_REDIS


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the machine's Redis; removed afterwards."""
    value = f"bizra-test-filters-{os.getpid()}-{os.urandom(4).hex()}"
    yield value
    client = aioredis.Redis.from_url(SHARED_REDIS)
    try:
        keys = [k async for k in client.scan_iter(match=f"{value}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def call(client: httpx.AsyncClient, method: str, *params: Any) -> Any:
    doc = (await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})).json()
    if "error" in doc:
        raise LookupError(doc["error"])
    return doc["result"]


async def caught_up(url: str, *nodes: Node) -> None:
    """Wait until the nodes have seen the upstream's head (their head followers poll
    every HEAD_FOLLOW_INTERVAL here: the proxies have no WebSocket)."""
    head = int(rpc(url, "eth_blockNumber"), 16)
    async with asyncio.timeout(5):
        while any(n.chain.best_head < head for n in nodes):
            await asyncio.sleep(0.01)


async def test_filters_across_nodes_upstreams_and_a_restart(fresh_devnet: Devnet,
                                                            prefix: str) -> None:
    url = fresh_devnet.url
    logger = deploy_logger(url)
    async with counting_proxy(url) as p1, counting_proxy(url) as p2:
        def settings(first: str, second: str) -> Any:
            return make_settings(f"{first},{second}", redis_url=SHARED_REDIS,
                                 cache_key_prefix=prefix, head_follow_interval=0.05)

        async with running_node(settings(p1.url, p2.url)) as (node_a, a), \
                running_node(settings(p2.url, p1.url)) as (node_b, b):
            logs_id = await call(a, "eth_newFilter", {"address": logger})
            blocks_id = await call(b, "eth_newBlockFilter")
            start = int(await call(a, "eth_blockNumber"), 16)
            sent = [emit(url, logger) for _ in range(3)]
            await caught_up(url, node_a, node_b)

            got = await call(b, "eth_getFilterChanges", logs_id)  # created on A, read on B
            assert [g["transactionHash"] for g in got] == sent
            assert all(g["topics"] == [LOG_TOPIC] for g in got)
            assert await call(a, "eth_getFilterChanges", logs_id) == []

            hashes = await call(a, "eth_getFilterChanges", blocks_id)
            mined = [rpc(url, "eth_getBlockByNumber", [hex(start + i + 1), False])["hash"]
                     for i in range(3)]
            assert hashes == mined

            # both nodes polling at once: every log once in all
            more = [emit(url, logger) for _ in range(4)]
            await caught_up(url, node_a, node_b)
            polls = await asyncio.gather(*(call(c, "eth_getFilterChanges", logs_id)
                                           for c in (a, b, a, b, a, b)))
            assert sorted(g["transactionHash"] for batch in polls for g in batch) == sorted(more)

        # a restart: the filter lives in Redis, not in the node
        async with running_node(settings(p2.url, p1.url)) as (node_c, again):
            last = emit(url, logger)
            await caught_up(url, node_c)
            assert [g["transactionHash"] for g in
                    await call(again, "eth_getFilterChanges", logs_id)] == [last]
            assert await call(again, "eth_uninstallFilter", logs_id) is True
            assert await call(again, "eth_uninstallFilter", logs_id) is False
            with pytest.raises(LookupError, match="filter not found"):
                await call(again, "eth_getFilterChanges", logs_id)
    assert p1.methods["eth_newFilter"] + p2.methods["eth_newFilter"] == 0  # the node's own


async def test_filter_logs_and_criteria(fresh_devnet: Devnet, prefix: str) -> None:
    url = fresh_devnet.url
    logger = deploy_logger(url)
    other = deploy_logger(url)
    start = int(rpc(url, "eth_blockNumber"), 16)
    ours = [emit(url, logger), emit(url, other), emit(url, logger)]
    settings = make_settings(url, redis_url=SHARED_REDIS, cache_key_prefix=prefix,
                             **FOLLOW_HEADS)
    async with running_node(settings) as (node, client):
        fid = await call(client, "eth_newFilter", {"address": logger, "fromBlock": hex(start),
                                                    "topics": [LOG_TOPIC]})
        logs = await call(client, "eth_getFilterLogs", fid)
        assert [g["transactionHash"] for g in logs] == [ours[0], ours[2]]
        by_topic = await call(client, "eth_newFilter", {"topics": [[LOG_TOPIC, "0x" + "00" * 32]],
                                                        "fromBlock": hex(start)})
        assert len(await call(client, "eth_getFilterLogs", by_topic)) == 3
        nothing = await call(client, "eth_newFilter", {"topics": ["0x" + "00" * 32]})
        emit(url, logger)
        await caught_up(url, node)
        assert await call(client, "eth_getFilterChanges", nothing) == []
        blocks = await call(client, "eth_newBlockFilter")
        with pytest.raises(LookupError, match="filter not found"):
            await call(client, "eth_getFilterLogs", blocks)  # as geth answers
        for bad in ({"blockHash": "0x" + "00" * 32}, {"adress": logger}, {"topics": "x"},
                    {"fromBlock": "yesterday"}, "nonsense"):
            with pytest.raises(LookupError, match="invalid params"):
                await call(client, "eth_newFilter", bad)
        for unknown in ("0x", "0xzz", 5, None, "0x" + "1" * 65):
            with pytest.raises(LookupError, match="filter not found"):
                await call(client, "eth_getFilterChanges", unknown)


async def test_filters_without_redis_live_in_the_worker(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url)) as (node, client):
        fid = await call(client, "eth_newBlockFilter")
        assert await call(client, "eth_getFilterChanges", fid) == []
        assert node.filter_state.shared is False


async def test_a_filter_expires_when_not_polled(devnet: Devnet, prefix: str) -> None:
    """Polls 0.5 s apart keep a filter of 1 s alive past its first second; then it
    expires unpolled. A poll that came later than the time to live (a stalled machine,
    measured) proves nothing about renewal: the round is started again, at most 5 times."""
    ttl, gap = 1.0, 0.5
    settings = make_settings(devnet.url, redis_url=SHARED_REDIS, cache_key_prefix=prefix)
    async with running_node(settings, tuning=tuned(filter_ttl=ttl)) as (_, client):
        for _ in range(5):
            fid = await call(client, "eth_newBlockFilter")
            last, renewed = time.monotonic(), 0
            while renewed < 3:  # 1.5 s in all, each poll within the ttl of the one before
                await asyncio.sleep(gap)
                if time.monotonic() - last >= ttl:
                    break  # too late to count: another round
                await call(client, "eth_getFilterChanges", fid)  # alive, and renewed
                last, renewed = time.monotonic(), renewed + 1
            if renewed == 3:
                break
        assert renewed == 3, "the machine stalled longer than the filter's ttl in every round"
        await asyncio.sleep(ttl + 0.2)
        with pytest.raises(LookupError, match="filter not found"):
            await call(client, "eth_getFilterChanges", fid)
