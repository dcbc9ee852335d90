"""One node, two networks: two anvils with different chain ids (31337 and 10) behind
one in-process node. Each network is validated and served on its own paths, nothing
one network caches, records or learns of a reorg is answered on the other, and a
network whose upstreams are down leaves the others' answers and readiness alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizra_node.api import ASGIApp
from bizra_node.devnet import Anvil, rpc, seed, wait_receipt
from bizra_node.settings import Settings
from bizra_node.validation.headers import Reorg
from tests.conftest import FOLLOW_HEADS, Devnet, make_settings, running_node
from tests.support.asgi_ws import asgi_websocket
from tests.support.postgres import SHARED_DSN, scratch_database
from tests.support.redis_server import RedisServer
from tests.support.reorgs import until

A, B = 31337, 10
LONG = {"ttl_recent": 3600, "ttl_not_found": 3600, "l1_max_ttl": 3600}


def _devnet(chain_id: int, **anvil: Any) -> Iterator[Devnet]:
    node = Anvil(chain_id=chain_id, **anvil).start()
    try:
        yield Devnet(node, seed(node.url))
    finally:
        node.stop()


@pytest.fixture(scope="module")
def net_a() -> Iterator[Devnet]:
    yield from _devnet(A)


@pytest.fixture(scope="module")
def net_b() -> Iterator[Devnet]:
    yield from _devnet(B)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.cleanup()


def two_networks(*settings: Settings) -> Any:
    """A started node serving ``settings``' networks (the first the default), and its
    client."""
    return running_node(settings[0], networks=settings)


def networks(url_a: str, url_b: str, **common: Any) -> tuple[Settings, Settings]:
    return (make_settings(url_a, bizra_network_id=A, **common),
            make_settings(url_b, bizra_network_id=B, **common))


async def validate(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


async def rpc_call(client: httpx.AsyncClient, path: str, method: str, *params: Any) -> Any:
    resp = await client.post(path, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                         "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp.json().get("result")


async def test_each_network_is_validated_on_its_own_paths(
        net_a: Devnet, net_b: Devnet, redis_url: str) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    assert tx_a != tx_b  # signed for different chain ids
    async with two_networks(*networks(net_a.url, net_b.url, redis_url=redis_url,
                                      **LONG)) as (node, client):
        for path, body, tx, network in [
            ("/api/v1/validate/transaction", {"txHash": tx_a}, tx_a, A),
            (f"/api/v1/{A}/validate/transaction", {"txHash": tx_a}, tx_a, A),
            (f"/api/v1/{B}/validate/transaction", {"txHash": tx_b}, tx_b, B),
            ("/api/v1/validate/transaction", {"txHash": tx_b, "networkId": B}, tx_b, B),
            (f"/api/v1/{B}/validate/transaction", {"txHash": tx_b, "networkId": B}, tx_b, B),
        ]:
            for _ in range(2):  # the second from the cache
                answer = await validate(client, path, body)
                assert answer["valid"] is True, (path, answer)
                assert answer["networkId"] == network and answer["data"]["hash"] == tx
        # a hash of one network is never answered from the other's cache
        for path, body in [(f"/api/v1/{B}/validate/transaction", {"txHash": tx_a}),
                           ("/api/v1/validate/transaction", {"txHash": tx_a, "networkId": B}),
                           ("/api/v1/validate/transaction", {"txHash": tx_b})]:
            answer = await validate(client, path, body)
            assert answer["valid"] is False and answer["error"] == "Transaction not found"
        resp = await client.get(f"/api/v1/{B}/transactions/{tx_a}")
        assert resp.json()["data"]["valid"] is False
        resp = await client.get(f"/api/v1/{B}/transactions/{tx_b}")
        assert resp.status_code == 200 and resp.json()["data"]["networkId"] == B
        one_a = (await client.get("/api/v1/blocks/1")).json()["data"]
        one_b = (await client.get(f"/api/v1/{B}/blocks/1")).json()["data"]
        assert one_a["networkId"] == A and one_b["networkId"] == B
        assert one_a["data"]["hash"] == rpc(net_a.url, "eth_getBlockByNumber", ["0x1", False])["hash"]
        assert one_b["data"]["hash"] == rpc(net_b.url, "eth_getBlockByNumber", ["0x1", False])["hash"]
        head_b = (await client.get(f"/api/v1/{B}/validate/block-number")).json()["data"]
        assert head_b["blockNumber"] == int(rpc(net_b.url, "eth_blockNumber"), 16)
        # the two caches hold their own keys, in L1 and in Redis
        network_a, network_b = node.network(A), node.network(B)
        assert network_a.cache.prefix != network_b.cache.prefix
        assert network_b.cache.key("transaction", tx_a).startswith(network_b.cache.prefix)


async def test_rpc_per_network_over_http_and_websocket(net_a: Devnet, net_b: Devnet) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with two_networks(*networks(net_a.url, net_b.url)) as (node, client):
        assert await rpc_call(client, "/rpc", "eth_chainId") == hex(A)
        assert await rpc_call(client, f"/rpc/{A}", "eth_chainId") == hex(A)
        assert await rpc_call(client, f"/rpc/{B}", "eth_chainId") == hex(B)
        assert (await rpc_call(client, f"/rpc/{B}", "eth_getTransactionByHash", tx_b))[
            "hash"] == tx_b
        assert await rpc_call(client, f"/rpc/{B}", "eth_getTransactionByHash", tx_a) is None
        assert await rpc_call(client, "/rpc", "eth_getTransactionByHash", tx_b) is None
        # filters are the network's own: an id made on one is unknown on the other
        made = await rpc_call(client, f"/rpc/{B}", "eth_newBlockFilter")
        resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1,
                                               "method": "eth_getFilterChanges",
                                               "params": [made]})
        assert "error" in resp.json()
        assert await rpc_call(client, f"/rpc/{B}", "eth_getFilterChanges", made) is not None
        for path, chain in (("/rpc", A), (f"/rpc/{A}", A), (f"/rpc/{B}", B)):
            async with asgi_websocket(ASGIApp(node), path=path) as ws:
                await ws.send({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId",
                               "params": []})
                assert (await ws.recv())["result"] == hex(chain)
        with pytest.raises(ConnectionRefusedError):
            async with asgi_websocket(ASGIApp(node), path="/rpc/5"):
                pass


async def test_an_unknown_network_is_a_400_saying_so(net_a: Devnet, net_b: Devnet) -> None:
    tx_a = net_a.manifest.eip1559_tx
    async with two_networks(*networks(net_a.url, net_b.url)) as (_node, client):
        for method, path, body in [
            ("POST", "/api/v1/validate/transaction", {"txHash": tx_a, "networkId": 5}),
            ("POST", "/api/v1/5/validate/transaction", {"txHash": tx_a}),
            ("GET", f"/api/v1/5/transactions/{tx_a}", None),
            ("POST", "/rpc/5", {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}),
            ("GET", "/api/v1/validations?networkId=5", None),
        ]:
            resp = await client.request(method, path, json=body)
            assert resp.status_code == 400, (path, resp.text)
            error = resp.json()["error"]
            assert error["code"] == "VALIDATION_ERROR", path
            assert error["details"]["reason"] == "unsupported_network", path
        # a body or query naming another network than the path's: neither answers, and
        # the 400 says they disagree (the node does serve the body's network)
        for method, path, body in [
            ("POST", f"/api/v1/{B}/validate/transaction", {"txHash": tx_a, "networkId": A}),
            ("POST", f"/api/v1/{A}/validate/block", {"blockNumber": 0, "networkId": B}),
            ("POST", f"/api/v1/{B}/validate/transactions", {"txHashes": [tx_a],
                                                           "networkId": 5}),
            ("GET", f"/api/v1/{B}/validations?networkId={A}", None),
            ("GET", f"/api/v1/{B}/validations?networkId=5", None),
        ]:
            resp = await client.request(method, path, json=body)
            assert resp.status_code == 400, (path, resp.text)
            error = resp.json()["error"]
            assert error["code"] == "VALIDATION_ERROR", path
            assert error["details"]["reason"] == "network_mismatch", (path, error)
            assert error["details"]["pathNetworkId"] == int(path.split("/")[3]), path
        # a path of a served network that no route has is still a 404
        assert (await client.get(f"/api/v1/{B}/nothing")).status_code == 404


async def test_records_and_history_per_network(net_a: Devnet, net_b: Devnet,
                                               tmp_path: Path) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with scratch_database(SHARED_DSN) as dsn:
        common = {"db_enabled": True, "database_url": dsn, "data_dir": str(tmp_path),
                  "write_batch_interval": 0.01, "db_pool_max": 4, "db_pool_min": 1}
        async with two_networks(*networks(net_a.url, net_b.url, **common)) as (node, client):
            await validate(client, "/api/v1/validate/transaction", {"txHash": tx_a})
            await validate(client, f"/api/v1/{B}/validate/transaction", {"txHash": tx_b})
            await validate(client, f"/api/v1/{B}/validate/transaction", {"txHash": tx_a})
            await until(lambda: node.metrics.write_records.get(("written",)) >= 3,
                        what="records written")

            async def listed(path: str) -> list[tuple[int, str, bool]]:
                resp = await client.get(path)
                assert resp.status_code == 200, resp.text
                return sorted((i["networkId"], i["subject"], i["valid"])
                              for i in resp.json()["data"]["items"])

            assert await listed("/api/v1/validations") == sorted(
                [(A, tx_a, True), (B, tx_b, True), (B, tx_a, False)])
            assert await listed(f"/api/v1/validations?networkId={B}") == sorted(
                [(B, tx_b, True), (B, tx_a, False)])
            assert await listed(f"/api/v1/{A}/validations") == [(A, tx_a, True)]
            assert await listed(f"/api/v1/{B}/validations?kind=transaction&valid=true") == [
                (B, tx_b, True)]
            resp = await client.get(f"/api/v1/{A}/validations?networkId={B}")
            assert resp.status_code == 400


async def test_a_reorg_on_one_network_leaves_the_other_alone() -> None:
    deep_a = next(gen_a := _devnet(A, slots_in_an_epoch=8))
    deep_b = next(gen_b := _devnet(B, slots_in_an_epoch=8))
    try:
        settings = networks(deep_a.url, deep_b.url, **FOLLOW_HEADS, **LONG)
        async with two_networks(*settings) as (node, client):
            seen: dict[int, list[Reorg]] = {A: [], B: []}
            for chain in (A, B):
                node.network(chain).chain.headers.add_reorg_listener(seen[chain].append)
            numbers = {}
            for chain, devnet in ((A, deep_a), (B, deep_b)):
                url, accounts = devnet.url, devnet.manifest.accounts
                tx = rpc(url, "eth_sendTransaction",
                         [{"from": accounts[3], "to": accounts[4], "value": "0x1"}])
                numbers[chain] = int(wait_receipt(url, tx)["blockNumber"], 16)
            for chain in (A, B):
                await until(lambda c=chain: node.network(c).chain.canonical.hash_at(
                    numbers[c]) is not None, what="followed")
            before = {c: (await client.get(f"/api/v1/{c}/blocks/{numbers[c]}")).json()["data"]
                      for c in (A, B)}
            rpc(deep_b.url, "anvil_reorg", [2, []])
            await until(lambda: len(seen[B]) == 1, what="reorg noticed on B")
            await asyncio.sleep(0.5)  # time for a wrong notice to reach A
            assert seen[A] == []
            after_b = (await client.get(f"/api/v1/{B}/blocks/{numbers[B]}")).json()["data"]
            assert after_b["data"]["hash"] != before[B]["data"]["hash"]
            after_a = (await client.get(f"/api/v1/{A}/blocks/{numbers[A]}")).json()["data"]
            assert after_a == before[A]
    finally:
        for gen in (gen_a, gen_b):
            gen.close()


async def test_a_network_whose_upstreams_are_down_does_not_touch_the_others(
        net_a: Devnet, net_b: Devnet) -> None:
    down = make_settings("http://127.0.0.1:9", bizra_network_id=5, rpc_timeout=0.5,
                         retry_attempts=1)
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with two_networks(*networks(net_a.url, net_b.url), down) as (_node, client):
        resp = await client.get("/ready")
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["status"] == "degraded"
        assert data["networks"][str(A)]["ok"] is True and data["networks"][str(B)]["ok"]
        assert data["networks"]["5"]["ok"] is False
        assert data["networks"]["5"]["checks"]["upstream"]["ok"] is False
        assert (await validate(client, "/api/v1/validate/transaction", {"txHash": tx_a}))[
            "valid"] is True
        assert (await validate(client, f"/api/v1/{B}/validate/transaction", {"txHash": tx_b}))[
            "valid"] is True
        resp = await client.post("/api/v1/5/validate/transaction", json={"txHash": tx_a})
        assert resp.status_code == 503
        # one network's readiness, for a balancer per network
        for network, status in ((A, 200), (B, 200), (5, 503)):
            resp = await client.get(f"/ready/{network}")
            assert resp.status_code == status, resp.text
            assert resp.json()["data"]["network"]["ok"] is (status == 200)
        # a chain id as the paths name it: /rpc/010 and /api/v1/010/... are no routes,
        # so /ready/010 is not network 10's readiness either
        for bad in ("7", "x", "010", "0x0a", "+10", "0"):
            resp = await client.get(f"/ready/{bad}")
            assert resp.status_code == 400
            assert resp.json()["error"]["details"]["reason"] == "unsupported_network"


async def test_metrics_carry_the_network(net_a: Devnet, net_b: Devnet) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with two_networks(*networks(net_a.url, net_b.url)) as (node, client):
        for _ in range(2):
            await validate(client, "/api/v1/validate/transaction", {"txHash": tx_a})
            await validate(client, f"/api/v1/{B}/validate/transaction", {"txHash": tx_b})
        assert node.network(A).upstreams.names == [f"{A}/{net_a.url}"]
        assert node.network(B).upstreams.names == [f"{B}/{net_b.url}"]
        hits = dict(node.metrics.cache_hits.items())
        assert hits[("l1", "transaction", str(A))] >= 1
        assert hits[("l1", "transaction", str(B))] >= 1
        assert node.network(B).metrics.cache_hits.get(("l1", "transaction")) == \
            hits[("l1", "transaction", str(B))]
        lines = (await client.get("/metrics")).text.splitlines()
        assert any(line.startswith("cache_hits_total{") and f'network="{B}"' in line
                   and 'tier="l1"' in line for line in lines)
        assert any(line.startswith("upstream_calls_total{") and f'network="{B}"' in line
                   and f'upstream="{B}/{net_b.url}"' in line for line in lines)
        assert not any(line.startswith("api_requests_total{") and "network=" in line
                       for line in lines)  # the node's own metrics have no network
        summary = (await client.get("/api/metrics")).json()
        assert summary["cache"]["hit_rate"] > 0  # summed over the networks


async def test_batches_and_resources_choose_their_network(net_a: Devnet, net_b: Devnet) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with two_networks(*networks(net_a.url, net_b.url)) as (_node, client):
        for path, body in [("/api/v1/validate/transactions",
                            {"txHashes": [tx_b, tx_a], "networkId": B}),
                           (f"/api/v1/{B}/validate/transactions", {"txHashes": [tx_b, tx_a]})]:
            for _ in range(2):  # then from the cache
                results = (await validate(client, path, body))["results"]
                assert [(r["data"]["networkId"], r["data"]["valid"]) for r in results] == [
                    (B, True), (B, False)], path
        account = net_b.manifest.accounts[0]
        for path, network in [(f"/api/v1/addresses/{account}", A),
                              (f"/api/v1/{B}/addresses/{account}", B)]:
            resp = await client.get(path)
            assert resp.status_code == 200 and resp.json()["data"]["networkId"] == network
        answer = await validate(client, "/api/v1/validate/block",
                                {"blockNumber": 1, "networkId": B})
        assert answer["data"]["hash"] == rpc(net_b.url, "eth_getBlockByNumber",
                                             ["0x1", False])["hash"]


async def test_subscriptions_follow_their_own_network() -> None:
    fresh_a = next(gen_a := _devnet(A))
    fresh_b = next(gen_b := _devnet(B))
    try:
        settings = networks(fresh_a.url, fresh_b.url, **FOLLOW_HEADS)
        async with two_networks(*settings) as (node, _client):
            for network in node.networks:
                await network.follower.settled()
            async with asgi_websocket(ASGIApp(node), path=f"/rpc/{B}") as ws:
                await ws.send({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                               "params": ["newHeads"]})
                sub = (await ws.recv())["result"]
                rpc(fresh_a.url, "anvil_mine", ["0x3"])  # network A's blocks: not B's heads
                rpc(fresh_b.url, "anvil_mine", ["0x1"])
                note = await ws.recv()
                assert note["params"]["subscription"] == sub
                head = note["params"]["result"]
                assert head["hash"] == rpc(fresh_b.url, "eth_getBlockByNumber",
                                           [head["number"], False])["hash"]
                with pytest.raises(TimeoutError):  # nothing of A's three blocks follows
                    async with asyncio.timeout(0.5):
                        await ws.recv()
    finally:
        for gen in (gen_a, gen_b):
            gen.close()
