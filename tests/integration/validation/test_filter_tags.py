"""Log filters made with a block tag keep every log (a tag is resolved once, when the
filter is made), and malformed filters are refused when they are made (-32602), as
anvil does: eth_newFilter over /rpc (web3.py) and eth_subscribe logs over WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bizra_node.api import ASGIApp
from bizra_node.app import Node
from bizra_node.devnet import rpc
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node
from tests.support.asgi_ws import asgi_websocket
from tests.support.contracts import deploy_logger, emit
from tests.support.servers import http_to_asgi


async def caught_up(url: str, node: Node) -> None:
    head = int(rpc(url, "eth_blockNumber"), 16)
    async with asyncio.timeout(5):
        while node.chain.best_head < head:
            await asyncio.sleep(0.01)


def anvil_answer(url: str, method: str, params: list[Any]) -> Any:
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                 "params": params}).json()


def tx_hashes(logs: Any) -> list[str]:
    return [g["transactionHash"] if isinstance(g, dict) else g.transactionHash.to_0x_hex()
            for g in logs]


@pytest.mark.parametrize("tag", ["latest", "pending"])
async def test_a_filter_from_latest_gives_every_log_since(fresh_devnet: Devnet, tag: str) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3

    url = fresh_devnet.url
    logger = deploy_logger(url)
    async with running_node(make_settings(url, **FOLLOW_HEADS)) as (node, client), \
            http_to_asgi(client) as node_url:
        w3 = AsyncWeb3(AsyncHTTPProvider(node_url))
        criteria = {"fromBlock": tag, "address": AsyncWeb3.to_checksum_address(logger)}
        ours = await w3.eth.filter(criteria)  # type: ignore[arg-type]
        anvils = rpc(url, "eth_newFilter", [{"fromBlock": tag, "address": logger}])
        for _ in range(2):
            sent = [emit(url, logger) for _ in range(4)]  # one log per block
            await caught_up(url, node)
            got = await w3.eth.get_filter_changes(ours.filter_id)
            assert tx_hashes(got) == sent
            assert tx_hashes(rpc(url, "eth_getFilterChanges", [anvils])) == sent  # anvil agrees
        await w3.provider.disconnect()


BAD_FILTERS = [
    {"address": "0xzz"},
    {"address": "0x" + "11" * 19},
    {"address": ["0x" + "11" * 20, "0x12"]},
    {"topics": ["0x12"]},
    {"topics": [["0x" + "ab" * 32, "0x12"]]},
    {"topics": [None, 5]},
    {"fromBlock": "lates"},
    {"toBlock": "0xzz"},
    {"fromBlock": "0x" + "1" * 17},
]


@pytest.mark.parametrize("criteria", BAD_FILTERS)
async def test_a_malformed_filter_is_refused_when_made(devnet: Devnet,
                                                       criteria: dict[str, Any]) -> None:
    assert anvil_answer(devnet.url, "eth_newFilter", [criteria])["error"]["code"] == -32602
    # (anvil refuses it too)
    async with running_node(make_settings(devnet.url)) as (_, client):
        doc = (await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1,
                                               "method": "eth_newFilter",
                                               "params": [criteria]})).json()
        assert doc["error"]["code"] == -32602, doc
        assert doc["error"]["message"].startswith("invalid params: ")


@pytest.mark.parametrize("criteria", [c for c in BAD_FILTERS if "fromBlock" not in c
                                      and "toBlock" not in c])
async def test_a_malformed_logs_subscription_is_refused(devnet: Devnet,
                                                        criteria: dict[str, Any]) -> None:
    async with running_node(make_settings(devnet.url)) as (node, _), \
            asgi_websocket(ASGIApp(node)) as ws:
        answer = await ws.call("eth_subscribe", ["logs", criteria])
        assert answer["error"]["code"] == -32602, answer
        good = await ws.call("eth_subscribe", ["logs", {"topics": [None, ["0x" + "ab" * 32]]}],
                             req_id=2)
        assert good["result"].startswith("0x")
