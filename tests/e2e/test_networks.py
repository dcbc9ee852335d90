"""`bizra-node serve --config` serving two networks end to end: two anvils (chain ids
31337 and 10), real granian workers, REST, /rpc over HTTP and WebSocket, the history
in PostgreSQL, and /ready per network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bizra_node.devnet import Anvil, seed
from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.postgres import SHARED_DSN, scratch_database

A, B = 31337, 10


@pytest.fixture(scope="module")
def chain_b() -> Iterator[Devnet]:
    anvil = Anvil(chain_id=B).start()
    try:
        yield Devnet(anvil, seed(anvil.url))
    finally:
        anvil.stop()


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with scratch_database(SHARED_DSN) as made:
        yield made


@pytest.mark.parametrize("how", ["--config", "BIZRA_CONFIG"])
async def test_one_node_serves_two_networks(devnet: Devnet, chain_b: Devnet, dsn: str,
                                            tmp_path: Path, how: str) -> None:
    config = tmp_path / "bizra-node.toml"
    config.write_text(f"""
write_batch_interval = 0.01
[[networks]]
chain_id = {A}
upstreams = ["{devnet.url}"]
default = true
[[networks]]
chain_id = {B}
upstreams = ["{chain_b.url}"]
finality_depth = 2
""")
    env = {"DB_ENABLED": "true", "DATABASE_URL": dsn, "DATA_DIR": str(tmp_path / "data"),
           "BIZRA_NODE_URL": "http://127.0.0.1:9"}  # the file's networks win over it
    args: tuple[str, ...] = ("--workers", "2")
    if how == "--config":
        args += ("--config", str(config))
    else:
        env["BIZRA_CONFIG"] = str(config)
    proc, base = start_server(env, *args)
    try:
        await _exercise(base, devnet, chain_b)
    finally:
        assert stop_server(proc) == 0


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def _exercise(base: str, net_a: Devnet, net_b: Devnet) -> None:
    tx_a, tx_b = net_a.manifest.eip1559_tx, net_b.manifest.eip1559_tx
    async with aiohttp.ClientSession() as http:
        for path, body, network, valid in [
            ("/api/v1/validate/transaction", {"txHash": tx_a}, A, True),
            (f"/api/v1/{B}/validate/transaction", {"txHash": tx_b}, B, True),
            ("/api/v1/validate/transaction", {"txHash": tx_b, "networkId": B}, B, True),
            (f"/api/v1/{B}/validate/transaction", {"txHash": tx_a}, B, False),
            ("/api/v1/validate/transaction", {"txHash": tx_b}, A, False),
        ]:
            data = (await _post(http, base + path, body))["data"]
            assert (data["networkId"], data["valid"]) == (network, valid), path
        async with http.post(base + "/api/v1/validate/transaction",
                             json={"txHash": tx_a, "networkId": 5}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["details"]["reason"] == "unsupported_network"
        for path, chain in (("/rpc", A), (f"/rpc/{A}", A), (f"/rpc/{B}", B)):
            answer = await _post(http, base + path, {"jsonrpc": "2.0", "id": 1,
                                                     "method": "eth_chainId", "params": []})
            assert answer["result"] == hex(chain)
            async with http.ws_connect(base.replace("http", "ws") + path) as ws:
                await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionByHash",
                                    "params": [tx_b]})
                got = await ws.receive_json(timeout=10)
                assert (got["result"] is not None) == (chain == B), path
        # a network not served is a 400 over WebSocket too (as POST /rpc/5 is); a path
        # that names no network stays a 404
        for path, status in (("/rpc/5", 400), ("/rpc/abc", 404), (f"/rpc/0{B}", 404)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with http.ws_connect(base.replace("http", "ws") + path):
                    pass
            assert refused.value.status == status, path
        async with http.get(base + "/ready") as resp:
            ready = await resp.json()
            assert resp.status == 200, ready
            assert ready["data"]["status"] == "ready"
            assert set(ready["data"]["networks"]) == {str(A), str(B)}
        # the history: each network's records under its chain id (a repeated answer
        # may come from a worker's cache, which records nothing new: compared as sets)
        want = {B: {(tx_b, True, B), (tx_a, False, B)}, A: {(tx_a, True, A), (tx_b, False, A)}}
        for chain, path in ((B, f"/api/v1/{B}/validations"),
                            (A, f"/api/v1/validations?networkId={A}")):
            got: set[tuple[str, bool, int]] = set()
            for _ in range(100):
                async with http.get(base + path) as resp:
                    items = (await resp.json())["data"]["items"]
                got = {(i["subject"], i["valid"], i["networkId"]) for i in items}
                if got == want[chain]:
                    break
                await asyncio.sleep(0.1)
            assert got == want[chain]
