"""Harness.rpc_sequential and rpc_force_close: the node set up as the system it
replaces worked (the 'before' baseline of `bench suite`) sends one call per round trip
on a new connection each; the defaults send one batch over a kept-alive connection.

A transaction in a block the node has not proven yet costs two batches: the
transaction, its receipt and the head; then the block's full transaction list and
receipts (proven against the header's roots, memoised per block). The anchor and the
canonical hashes linking the block to it come from memory (established at start)."""

from __future__ import annotations

import aiohttp
import pytest

from bizra_bench.faultproxy import FaultProxy
from bizra_node.tuning import Harness
from tests.conftest import Devnet, make_settings, running_node


@pytest.mark.parametrize(("before", "round_trips"), [(False, 2), (True, 5)])
async def test_round_trips_and_connections_per_miss(devnet: Devnet, before: bool,
                                                    round_trips: int) -> None:
    async with FaultProxy(devnet.url, count_calls=True) as proxy:
        settings = make_settings(proxy.url)
        harness = Harness(rpc_sequential=before, rpc_force_close=before)
        async with running_node(settings, harness=harness) as (_, client):
            proxy.reset_counts()
            for tx in (devnet.manifest.legacy_tx, devnet.manifest.eip2930_tx):
                resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
                assert resp.status_code == 200
                assert resp.json()["data"]["valid"] is True
            assert proxy.received == 2 * round_trips
            # keep-alive: the validations reuse the connection opened at start
            assert proxy.connections == (2 * round_trips if before else 0)
            assert proxy.calls["eth_getTransactionByHash"] == 2
            assert proxy.calls["eth_getTransactionReceipt"] == 2
            assert proxy.calls["eth_getBlockByHash"] == 2  # each tx is in a block of its own
            assert proxy.calls["eth_getBlockReceipts"] == 2
            assert "eth_getBlockByNumber:finalized" not in proxy.calls  # the anchor's job


async def test_the_proxy_reports_and_resets_its_counts_over_http(devnet: Devnet) -> None:
    async with FaultProxy(devnet.url, count_calls=True) as proxy, aiohttp.ClientSession() as http:
        async with http.post(proxy.url, json=[
                {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0x1", False]},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []}]) as resp:
            assert resp.status == 200
        async with http.get(proxy.url + "/_faultproxy/stats") as resp:
            stats = await resp.json()
        assert stats["received"] == 1
        assert stats["calls"] == {"eth_getBlockByNumber": 1, "eth_blockNumber": 1}
        async with http.post(proxy.url + "/_faultproxy/reset") as resp:
            assert (await resp.json())["received"] == 0
        assert proxy.calls == {}
