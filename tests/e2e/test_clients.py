"""Real web3 clients against `bizra-node serve` (granian RSGI, two worker processes,
Redis shared): web3.py over HTTP and WebSocket, Foundry's cast, and filters polled
over new connections (any worker may answer)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from eth_account import Account

from bizra_node.devnet import Anvil, rpc, seed
from tests.conftest import TEST_CACHE_SECRET
from tests.e2e.test_serve import start_server, stop_server
from tests.support.contracts import cast_binary, deploy_logger, emit
from tests.support.proxy import counting_proxy
from tests.support.redis_server import SHARED_REDIS

KEYS = {  # anvil's well-known dev accounts 7 and 8 (no other test here sends from them)
    "web3": "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "cast": "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
}
TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@dataclass
class Served:
    base: str
    anvil: Anvil
    prefix: str

    @property
    def rpc_url(self) -> str:
        return self.base + "/rpc"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    anvil = Anvil().start()
    prefix = f"bizra-test-e2e-{os.getpid()}-{os.urandom(4).hex()}"
    proc = None
    try:
        seed(anvil.url, extra_blocks=2)
        proc, base = start_server({"BIZRA_NODE_URL": anvil.url, "REDIS_URL": SHARED_REDIS,
                                   "CACHE_SECRET": TEST_CACHE_SECRET,
                                   "CACHE_KEY_PREFIX": prefix}, "--workers", "2")
        yield Served(base, anvil, prefix)
    finally:
        if proc is not None:
            assert stop_server(proc) == 0
        anvil.stop()
        asyncio.run(_forget(prefix))


async def _forget(prefix: str) -> None:
    client = aioredis.Redis.from_url(SHARED_REDIS)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def test_web3_send_wait_read_nonce_send_again_ten_times(served: Served) -> None:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(served.rpc_url))
    account = Account.from_key(KEYS["web3"])
    assert w3.eth.chain_id == 31337 and w3.eth.accounts == []
    for _ in range(10):
        nonce = w3.eth.get_transaction_count(account.address)
        tx = {"to": TO, "value": 1, "gas": 21_000, "nonce": nonce, "chainId": 31337,
              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
        assert receipt["status"] == 1
        assert w3.eth.get_transaction_count(account.address) == nonce + 1
        assert w3.eth.get_transaction_count(account.address, "pending") == nonce + 1
        assert w3.eth.block_number >= receipt["blockNumber"]
        assert w3.eth.get_block("latest")["number"] >= receipt["blockNumber"]


def test_cast_five_sends_in_a_row_and_a_receipt(served: Served) -> None:
    cast = cast_binary()
    if cast is None:
        pytest.skip("cast is not installed: run `make setup`")
    address = Account.from_key(KEYS["cast"]).address
    before = int(rpc(served.anvil.url, "eth_getTransactionCount", [address, "latest"]), 16)
    base = ["--rpc-url", served.rpc_url]
    hashes = []
    for _ in range(5):
        out = subprocess.run([cast, "send", *base, "--private-key", KEYS["cast"], TO,
                              "--value", "1", "--json"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        sent = json.loads(out.stdout)
        assert sent["status"] == "0x1"
        hashes.append(sent["transactionHash"])
    receipt = subprocess.run([cast, "receipt", *base, hashes[-1], "--json"],
                             capture_output=True, text=True, timeout=60)
    assert receipt.returncode == 0, receipt.stderr[-2000:]
    assert json.loads(receipt.stdout)["transactionHash"] == hashes[-1]
    nonce = subprocess.run([cast, "nonce", *base, address], capture_output=True, text=True,
                           timeout=60)
    assert int(nonce.stdout.strip()) == before + 5


async def test_web3_websocket_subscription_gets_every_new_head(served: Served) -> None:
    from web3 import AsyncWeb3, WebSocketProvider

    ws_url = served.base.replace("http://", "ws://") + "/rpc"
    async with AsyncWeb3(WebSocketProvider(ws_url)) as w3:
        sub = await w3.eth.subscribe("newHeads")
        assert await w3.eth.chain_id == 31337  # calls share the socket
        start = await w3.eth.block_number
        for _ in range(5):
            rpc(served.anvil.url, "anvil_mine", ["0x1"])
        numbers = []
        async with asyncio.timeout(10):
            async for message in w3.socket.process_subscriptions():
                assert message["subscription"] == sub
                numbers.append(message["result"]["number"])
                if len(numbers) == 5:
                    break
        await w3.eth.unsubscribe(sub)
    assert numbers == [start + 1 + i for i in range(5)]


async def test_filters_polled_over_new_connections_and_two_upstreams(served: Served) -> None:
    """Any of the two workers may answer each poll; the filter lives in Redis. A second
    server asks two upstreams (proxies in front of the same anvil), in the other order."""
    url = served.anvil.url
    logger = deploy_logger(url)

    async def call(base: str, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        async with aiohttp.ClientSession() as http, http.post(base + "/rpc", json=body) as resp:
            doc = await resp.json()  # a new session: a new connection every time
        assert "error" not in doc, doc
        return doc["result"]

    async with counting_proxy(url) as p1, counting_proxy(url) as p2:
        # the proxies run on this loop: start and stop the server from a thread
        proc, other = await asyncio.to_thread(
            start_server, {"BIZRA_NODE_URL": f"{p2.url},{p1.url}", "REDIS_URL": SHARED_REDIS,
                           "CACHE_SECRET": TEST_CACHE_SECRET, "CACHE_KEY_PREFIX": served.prefix,
                           "HEAD_FOLLOW_INTERVAL": "0.05"},
            "--workers", "2")
        try:
            fid = await call(served.base, "eth_newFilter", {"address": logger})
            sent = [emit(url, logger) for _ in range(3)]
            got: list[str] = []
            for i in range(40):
                base = served.base if i % 2 else other
                got += [g["transactionHash"] for g in await call(base, "eth_getFilterChanges", fid)]
                if len(got) >= 3:
                    break
                await asyncio.sleep(0.05)
            for i in range(6):  # later polls give nothing twice
                base = served.base if i % 2 else other
                assert await call(base, "eth_getFilterChanges", fid) == []
        finally:
            assert await asyncio.to_thread(stop_server, proc) == 0
    assert got == sent

