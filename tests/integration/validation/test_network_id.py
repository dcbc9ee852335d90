"""eth_chainId and net_version are the configured network's, never an upstream's: a
lying upstream's 0x1 is not served (HTTP, the fast lane, WebSocket, web3.py)."""

from __future__ import annotations

import httpx

from bizra_node.api import ASGIApp
from tests.integration.validation.conftest import node_behind
from tests.support.asgi_ws import asgi_websocket
from tests.support.lying_proxy import LyingProxy
from tests.support.servers import http_to_asgi


async def rpc(client: httpx.AsyncClient, method: str) -> object:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": []})
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


async def test_a_liars_chain_id_is_not_served(liar: LyingProxy) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3

    liar.lie("eth_chainId", lambda params, result: "0x1")
    liar.lie("net_version", lambda params, result: "1")
    async with node_behind(liar.url, bizra_network_id=31337) as (node, client):
        before = liar.calls["eth_chainId"] + liar.calls["net_version"]
        for _ in range(2):  # the full path, then the fast lane
            assert await rpc(client, "eth_chainId") == "0x7a69"
            assert await rpc(client, "net_version") == "31337"
        batch = await client.post("/rpc", json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "net_version", "params": []}])
        assert [a["result"] for a in batch.json()] == ["0x7a69", "31337"]
        async with asgi_websocket(ASGIApp(node)) as ws:
            assert (await ws.call("eth_chainId"))["result"] == "0x7a69"
            assert (await ws.call("net_version", req_id=2))["result"] == "31337"
        async with http_to_asgi(client) as url:
            w3 = AsyncWeb3(AsyncHTTPProvider(url))
            assert await w3.eth.chain_id == 31337
            assert await w3.net.version == "31337"
        assert liar.calls["eth_chainId"] + liar.calls["net_version"] == before  # never asked

