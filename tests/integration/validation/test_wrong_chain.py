"""An upstream that serves another chain than the node's (BIZRA_NETWORK_ID) is out of
service: wallets sign for the chain id the node announces, so nothing of another chain
may be served under it. Found from outside: with BIZRA_NETWORK_ID=1 before a 31337 anvil
the node was ready and served that chain's data as chain 1."""

from __future__ import annotations

from typing import Any

import httpx

from bizra_bench.trust_seed import TrustDevnet
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy


async def call(client: httpx.AsyncClient, method: str, *params: Any) -> dict[str, Any]:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    return dict(resp.json())


def another_chain(proxy: LyingProxy) -> None:
    proxy.lie("eth_chainId", lambda params, result: "0x5")


async def test_an_upstream_of_another_chain_alone_serves_nothing(
        trust_devnet: TrustDevnet) -> None:
    async with lying_proxy(trust_devnet.url) as other:
        another_chain(other)
        async with node_behind(other.url) as (node, client):
            ready = await client.get("/ready")
            assert ready.status_code == 503
            upstream = ready.json()["data"]["checks"]["upstream"]["upstreams"]
            assert [u["error"] for u in upstream.values()] == ["serves chain 5, not 31337"]
            asked = other.calls["eth_getBalance"]
            answer = await call(client, "eth_getBalance", trust_devnet.manifest.delegated,
                                "latest")
            assert "result" not in answer and answer["error"]["code"] == -32603
            assert other.calls["eth_getBalance"] == asked  # never asked
            (name,) = node.upstreams.names
            assert node.metrics.upstream_integrity_failures.get((name, "chain_id")) == 1
            # it serves the node's chain again: back in service at the next check
            other.tell_the_truth()
            assert (await client.get("/ready")).status_code == 200
            assert "result" in await call(client, "eth_blockNumber")


async def test_beside_the_right_chain_only_the_right_one_is_asked(
        trust_devnet: TrustDevnet) -> None:
    async with lying_proxy(trust_devnet.url) as other, \
            lying_proxy(trust_devnet.url) as right:
        another_chain(other)
        async with node_behind(other.url, right.url, anchor_quorum=1) as (_, client):
            want = trust_devnet.call("eth_getBalance", trust_devnet.manifest.delegated,
                                     "latest")
            for _ in range(3):
                answer = await call(client, "eth_getBalance",
                                    trust_devnet.manifest.delegated, "latest")
                assert answer["result"] == want
            assert other.calls["eth_getBalance"] == 0 and right.calls["eth_getBalance"] > 0
            assert (await client.get("/ready")).status_code == 200
