"""The WebSocket endpoint, driven in process through the ASGI adapter (the RSGI one is
tested over real sockets in tests/e2e): subscriptions fed by anvil's blocks, calls,
limits, and a slow client dropped while the node goes on."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bizra_node.api import ASGIApp
from bizra_node.app import Node
from bizra_node.devnet import rpc
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node, tuned
from tests.support.asgi_ws import AsgiWebSocket, asgi_websocket
from tests.support.contracts import deploy_logger, emit


@asynccontextmanager
async def socket_to(node: Node, read_buffer: int = 0) -> AsyncIterator[AsgiWebSocket]:
    async with asgi_websocket(ASGIApp(node), read_buffer=read_buffer) as ws:
        yield ws


async def notifications(ws: AsgiWebSocket, sub: str, count: int) -> list[Any]:
    out = []
    while len(out) < count:
        doc = await ws.recv()
        if doc.get("method") == "eth_subscription":
            assert doc["params"]["subscription"] == sub
            out.append(doc["params"]["result"])
    return out


async def test_new_heads_every_block_in_order(fresh_devnet: Devnet) -> None:
    async with running_node(make_settings(fresh_devnet.url, **FOLLOW_HEADS)) as (node, _):
        await node.follower.settled()
        async with socket_to(node) as ws:
            await ws.send({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                           "params": ["newHeads"]})
            answer = await ws.recv()  # the id comes before any notification
            assert answer["id"] == 1 and answer["result"].startswith("0x")
            start = int(rpc(fresh_devnet.url, "eth_blockNumber"), 16)
            for _ in range(5):
                rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
            heads = await notifications(ws, answer["result"], 5)
    assert [int(h["number"], 16) for h in heads] == [start + 1 + i for i in range(5)]
    assert all(h["parentHash"] == p["hash"] for p, h in itertools.pairwise(heads))


async def test_logs_matching_the_filter_only(fresh_devnet: Devnet) -> None:
    url = fresh_devnet.url
    logger, other = deploy_logger(url), deploy_logger(url)
    async with running_node(make_settings(url, **FOLLOW_HEADS)) as (node, _):
        await node.follower.settled()
        async with socket_to(node) as ws:
            shouting = "0x" + logger[2:].upper()  # addresses match whatever their case
            sub = (await ws.call("eth_subscribe", ["logs", {"address": [shouting]}]))["result"]
            everything = (await ws.call("eth_subscribe", ["logs", {}], req_id=2))["result"]
            mine = [emit(url, logger), emit(url, other), emit(url, logger)]
            got: dict[str, list[str]] = {sub: [], everything: []}
            while len(got[sub]) < 2 or len(got[everything]) < 3:
                doc = await ws.recv()
                got[doc["params"]["subscription"]].append(doc["params"]["result"]["transactionHash"])
    assert got[sub] == [mine[0], mine[2]]
    assert got[everything] == mine


async def test_unsubscribe_and_calls_over_the_socket(fresh_devnet: Devnet) -> None:
    async with running_node(make_settings(fresh_devnet.url, **FOLLOW_HEADS)) as (node, _), \
            socket_to(node) as ws:
        sub = (await ws.call("eth_subscribe", ["newHeads"]))["result"]
        assert (await ws.call("eth_unsubscribe", [sub], req_id=2))["result"] is True
        assert (await ws.call("eth_unsubscribe", [sub], req_id=3))["result"] is False
        rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
        assert (await ws.call("eth_chainId", req_id=4))["result"] == "0x7a69"
        await ws.send([{"jsonrpc": "2.0", "id": 5, "method": "eth_chainId"},
                       {"jsonrpc": "2.0", "method": "eth_chainId"},
                       {"jsonrpc": "2.0", "id": 6, "method": "eth_accounts"}])
        batch = await ws.recv()
        assert [(a["id"], a["result"]) for a in batch] == [(5, "0x7a69"), (6, [])]
        await ws.send_text("{nope")
        assert (await ws.recv())["error"]["code"] == -32700
        await ws.send({"jsonrpc": "2.0", "method": "eth_chainId"})  # a notification
        assert (await ws.call("eth_chainId", req_id=7))["id"] == 7  # nothing came between
        with pytest.raises(TimeoutError):
            await ws.recv(timeout=0.3)  # no newHeads after the unsubscribe


async def test_subscription_errors_and_limits(devnet: Devnet) -> None:
    settings = make_settings(devnet.url, ws_max_subscriptions=2, rpc_max_body_bytes=1024)
    async with running_node(settings) as (node, _), socket_to(node) as ws:
        assert (await ws.call("eth_subscribe", ["syncing"]))["error"]["code"] == -32602
        assert (await ws.call("eth_subscribe", ["logs", {"topics": "x"}]))["error"]["code"] \
            == -32602
        assert (await ws.call("eth_subscribe", ["newPendingTransactions", True]))["error"][
            "code"] == -32602
        for _ in range(2):
            assert "result" in await ws.call("eth_subscribe", ["newHeads"])
        too_many = await ws.call("eth_subscribe", ["newHeads"])
        assert too_many["error"]["code"] == -32005
        await ws.send_text('{"jsonrpc":"2.0","id":9,"method":"eth_chainId","x":"' + "a" * 2000
                           + '"}')
        assert (await ws.recv())["error"]["code"] == -32600


async def test_new_pending_transactions(fresh_devnet: Devnet) -> None:
    url = fresh_devnet.url
    rpc(url, "evm_setAutomine", [False])
    async with running_node(make_settings(url, **FOLLOW_HEADS)) as (node, _), \
            socket_to(node) as ws:
        sub = (await ws.call("eth_subscribe", ["newPendingTransactions"]))["result"]
        sender = rpc(url, "eth_accounts")[0]
        tx = rpc(url, "eth_sendTransaction", [{"from": sender, "to": sender, "value": "0x1"}])
        assert await notifications(ws, sub, 1) == [tx]
        assert (await ws.call("eth_unsubscribe", [sub], req_id=2))["result"] is True


async def test_pending_transactions_refused_without_an_upstream_websocket(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, head_follow_ws="off")) as (node, _), \
            socket_to(node) as ws:
        answer = await ws.call("eth_subscribe", ["newPendingTransactions"])
    assert answer["error"]["code"] == -32601


async def test_a_slow_client_is_dropped_and_the_node_goes_on(fresh_devnet: Devnet) -> None:
    """The client takes one message and stops reading; its buffer (4 here) fills with
    new heads and the node closes it (1013). Another client is served meanwhile."""
    url = fresh_devnet.url
    async with running_node(make_settings(url, **FOLLOW_HEADS),
                            tuning=tuned(ws_client_buffer=4)) as (node, _):
        await node.follower.settled()
        async with socket_to(node, read_buffer=1) as slow, socket_to(node) as fine:
            await slow.call("eth_subscribe", ["newHeads"])
            sub = (await fine.call("eth_subscribe", ["newHeads"]))["result"]
            heads = []
            for _ in range(12):  # one at a time: the client that reads keeps up
                rpc(url, "anvil_mine", ["0x1"])
                heads += await notifications(fine, sub, 1)
            assert len(heads) == 12
            async with asyncio.timeout(5):
                while node.hub.clients != 1:
                    await asyncio.sleep(0.01)
            with pytest.raises(ConnectionError, match="1013"):
                while True:
                    await slow.recv()
            assert (await fine.call("eth_chainId", req_id=9))["result"] == "0x7a69"


async def test_other_paths_are_refused(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url)) as (node, _):
        with pytest.raises(ConnectionRefusedError):
            async with asgi_websocket(ASGIApp(node), path="/api/v1/blocks/1"):
                pass
