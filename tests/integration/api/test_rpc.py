"""POST /rpc: a JSON-RPC endpoint any web3 client can use."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bizra_node.app import Node
from tests.conftest import Devnet

NodeClient = tuple[Node, httpx.AsyncClient]


async def test_single_call(node_client: NodeClient) -> None:
    resp = await node_client[1].post("/rpc", json={"jsonrpc": "2.0", "id": "a",
                                                   "method": "eth_chainId", "params": []})
    assert resp.json() == {"jsonrpc": "2.0", "id": "a", "result": "0x7a69"}


async def test_batch_keeps_client_ids_and_order(devnet: Devnet, node_client: NodeClient) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 7, "method": "eth_getTransactionByHash",
         "params": [devnet.manifest.legacy_tx]},
        {"jsonrpc": "2.0", "id": "x", "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no answer
        {"jsonrpc": "2.0", "id": 9, "method": "anvil_mine", "params": []},
        {"jsonrpc": "2.0", "id": 10, "method": "eth_getBalance", "params": ["0xzz", "latest"]},
    ]
    answers = (await node_client[1].post("/rpc", json=batch)).json()
    assert [a["id"] for a in answers] == [7, "x", 9, 10]
    assert answers[0]["result"]["hash"] == devnet.manifest.legacy_tx
    assert int(answers[1]["result"], 16) >= devnet.manifest.head
    assert answers[2]["error"]["code"] == -32601
    assert "error" in answers[3]  # the upstream's own error for bad params, passed through


@pytest.mark.parametrize(("body", "code"), [
    (b"{oops", -32700),
    (b"[]", -32600),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', -32600),
    (b'{"jsonrpc": "2.0", "id": {}, "method": "eth_chainId"}', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {}}', -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": []}', -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "debug_traceTransaction", "params": []}', -32601),
])
async def test_bad_requests(node_client: NodeClient, body: bytes, code: int) -> None:
    resp = await node_client[1].post("/rpc", content=body,
                                     headers={"content-type": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["error"]["code"] == code


async def test_batch_too_large(node_client: NodeClient) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(101)]
    resp = await node_client[1].post("/rpc", json=batch)
    assert resp.json()["error"]["code"] == -32600


async def test_only_notifications(node_client: NodeClient) -> None:
    resp = await node_client[1].post("/rpc", json={"jsonrpc": "2.0", "method": "eth_chainId"})
    assert resp.status_code == 204


async def test_upstream_down_is_an_error_object() -> None:
    from bizra_node.devnet import free_port
    from tests.conftest import make_settings, running_node

    async with running_node(make_settings(f"http://127.0.0.1:{free_port()}")) as (_, client):
        resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1,
                                               "method": "eth_blockNumber"})
        assert resp.status_code == 200
        assert resp.json()["error"]["code"] == -32603
        assert resp.json()["id"] == 1


async def test_final_answers_are_cached_and_latest_is_not_stale(fresh_devnet: Devnet) -> None:
    from bizra_node.devnet import rpc
    from tests.conftest import make_settings, running_node
    from tests.support.proxy import counting_proxy

    tx = fresh_devnet.manifest.legacy_tx
    async with counting_proxy(fresh_devnet.url) as proxy, \
            running_node(make_settings(proxy.url, ttl_head=0.001)) as (_, client):
        async def call(method: str, params: list, req_id: int = 1) -> dict:
            resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": req_id,
                                                   "method": method, "params": params})
            return dict(resp.json())

        first = await call("eth_getTransactionByHash", [tx], 1)
        second = await call("eth_getTransactionByHash", [tx], 2)
        assert first["result"] == second["result"] and second["id"] == 2
        assert proxy.methods["eth_getTransactionByHash"] == 1  # final: cached

        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionByHash",
                  "params": [tx]} for i in range(3)]
        answers = (await client.post("/rpc", json=batch)).json()
        assert [a["id"] for a in answers] == [0, 1, 2]
        assert proxy.methods["eth_getTransactionByHash"] == 1

        before = int((await call("eth_getBlockByNumber", ["latest", False]))["result"]
                     ["number"], 16)
        rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
        await asyncio.sleep(0.01)  # past TTL_HEAD (1 ms here): the node looks at the head again
        after = int((await call("eth_getBlockByNumber", ["latest", False]))["result"]
                    ["number"], 16)
        assert after == before + 1  # 'latest' follows the head, never served stale

        error = await call("eth_getBalance", ["0xnot-an-address", "latest"])
        assert "error" in error
