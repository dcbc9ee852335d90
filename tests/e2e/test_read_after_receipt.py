"""Read after receipt across connections: `bizra-node serve` with two worker processes
(the default deployment: no Redis), every call on a connection of its own.

A client that has seen a receipt in block B and then opens another connection may
land on the other worker. Whatever it reads there at ``latest`` (the block number,
the latest block, a balance) must not be older than B, and a transaction one
connection was told is final must be final on every connection after it.
Before the workers shared what they had shown, about one round in five read an older
head on the other worker, and a transaction flipped between ``finalized: true``
(``immutable``) and ``finalized: false`` for up to an anchor refresh (4 s).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import requests
from eth_account import Account
from eth_utils import to_checksum_address

from bizra_node.devnet import Anvil, rpc
from tests.e2e.test_serve import start_server, stop_server

SENDER = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
"""anvil's dev account 9 (this module owns its anvil)."""
ROUNDS = 100


@dataclass
class Served:
    base: str
    anvil: Anvil


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    # finality moves every few blocks (epochs of 2 slots), so rounds reach it quickly
    anvil = Anvil(slots_in_an_epoch=2).start()
    proc = None
    try:
        proc, base = start_server({"BIZRA_NODE_URL": anvil.url}, "--workers", "2")
        yield Served(base, anvil)
    finally:
        if proc is not None:
            assert stop_server(proc) == 0
        anvil.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection for every call (as a browser's or a load
    balancer's many connections may each reach another worker)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        yield s


async def call(http: aiohttp.ClientSession, base: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    async with http.post(base + "/rpc", json=body) as resp:
        doc = await resp.json()
    assert "error" not in doc, doc
    return doc["result"]


def _signed(nonce: int, to: str) -> str:
    account = Account.from_key(SENDER)
    tx = {"to": to_checksum_address(to), "value": 1, "gas": 21_000, "nonce": nonce, "chainId": 31337,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


async def _receipt(http: aiohttp.ClientSession, base: str, tx_hash: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            receipt = await call(http, base, "eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt  # type: ignore[no-any-return]
            await asyncio.sleep(0.01)


async def test_latest_reads_never_older_than_a_receipt_over_new_connections(
        served: Served, http: aiohttp.ClientSession) -> None:
    base = served.base
    sender = Account.from_key(SENDER).address
    nonce = int(await call(http, base, "eth_getTransactionCount", sender, "pending"), 16)
    behind = {"eth_blockNumber": 0, "latest block": 0, "balance at latest": 0}
    for i in range(ROUNDS):
        to = "0x" + os.urandom(20).hex()  # a fresh account: its balance is 0 until the tx
        tx_hash = await call(http, base, "eth_sendRawTransaction", _signed(nonce + i, to))
        block = int((await _receipt(http, base, tx_hash))["blockNumber"], 16)
        if int(await call(http, base, "eth_blockNumber"), 16) < block:
            behind["eth_blockNumber"] += 1
        latest = await call(http, base, "eth_getBlockByNumber", "latest", False)
        if int(latest["number"], 16) < block:
            behind["latest block"] += 1
        if int(await call(http, base, "eth_getBalance", to, "latest"), 16) != 1:
            behind["balance at latest"] += 1
    assert behind == {"eth_blockNumber": 0, "latest block": 0, "balance at latest": 0}


def test_web3_reads_after_each_receipt_over_new_connections(served: Served) -> None:
    from web3 import Web3

    session = requests.Session()
    session.headers["Connection"] = "close"  # a new connection for every call
    w3 = Web3(Web3.HTTPProvider(served.base + "/rpc", session=session))
    account = Account.from_key(SENDER)
    behind = []
    for _ in range(ROUNDS // 2):
        to = Web3.to_checksum_address("0x" + os.urandom(20).hex())
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        tx_hash = w3.eth.send_raw_transaction(bytes.fromhex(_signed(nonce, to)[2:]))
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)
        block = receipt["blockNumber"]
        seen = (w3.eth.block_number, w3.eth.get_block("latest")["number"],
                w3.eth.get_balance(to, "latest"))
        if seen[0] < block or seen[1] < block or seen[2] != 1:
            behind.append((block, seen))
    session.close()
    assert behind == []


async def test_final_on_one_connection_is_final_on_every_later_one(
        served: Served, http: aiohttp.ClientSession) -> None:
    """REST resources: once one connection was told ``finalized: true`` (immutable,
    strong ETag), no later connection is told ``finalized: false``."""
    url, base = served.anvil.url, served.base
    sender = Account.from_key(SENDER).address
    flipped: list[tuple[int, str]] = []
    for _ in range(4):
        nonce = int(rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16)
        tx_hash = rpc(url, "eth_sendRawTransaction", [_signed(nonce, "0x" + "11" * 20)])
        block = int((await _receipt(http, base, tx_hash))["blockNumber"], 16)
        path = f"{base}/api/v1/transactions/{tx_hash}"
        for _ in range(3):  # both workers keep the transaction while not yet final
            async with http.get(path) as resp:
                assert resp.status == 200
        rpc(url, "anvil_mine", ["0x8"])
        assert int(rpc(url, "eth_getBlockByNumber", ["finalized", False])["number"], 16) >= block
        etag = None
        async with asyncio.timeout(30):
            while etag is None:  # until one connection is told it is final
                async with http.get(path) as resp:
                    if (await resp.json())["data"]["data"]["finalized"]:
                        assert resp.headers["cache-control"].endswith("immutable")
                        etag = resp.headers["etag"]
                await asyncio.sleep(0.005)
        for i in range(60):  # every later connection: final, the same strong ETag
            async with http.get(path) as resp:
                final = (await resp.json())["data"]["data"]["finalized"]
                if not final or resp.headers["etag"] != etag:
                    flipped.append((i, resp.headers["cache-control"]))
            await asyncio.sleep(0.02)
    assert flipped == []
