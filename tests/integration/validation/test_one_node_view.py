"""Two nodes in this process on one heads file stand for two workers of one node
(as `serve` runs them), on a devnet of their own: what one has shown (a receipt's
block, a finalized transaction) is the least the other shows, whatever the other's
own head TTL and anchor refresh say."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from bizra_node.devnet import rpc
from bizra_node.validation import create_heads_file, remove_heads_file
from tests.conftest import Devnet, make_settings, running_node

SENDER = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
"""anvil's dev account 4 (the devnet is this test's own)."""


@pytest.fixture
def heads_file() -> Iterator[str]:
    path, made = create_heads_file("", 31337)
    yield path
    remove_heads_file(path, made)


async def _rpc(client: httpx.AsyncClient, method: str, *params: Any) -> Any:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    doc = resp.json()
    assert "error" not in doc, doc
    return doc["result"]


def _send(url: str, to: str) -> str:
    account = Account.from_key(SENDER)
    nonce = int(rpc(url, "eth_getTransactionCount", [account.address, "pending"]), 16)
    tx = {"to": to_checksum_address(to), "value": 1, "gas": 21_000, "nonce": nonce,
          "chainId": 31337, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    raw = "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()
    return str(rpc(url, "eth_sendRawTransaction", [raw]))


@pytest.fixture
async def two_workers(fresh_devnet: Devnet, heads_file: str) -> AsyncIterator[
        tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Worker a refreshes its anchor at once; worker b holds its head for a minute and
    its anchor for an hour: on its own, b would lag a by that much."""
    a_settings = make_settings(fresh_devnet.url, heads_file=heads_file, anchor_refresh=0.05)
    b_settings = make_settings(fresh_devnet.url, heads_file=heads_file, ttl_head=60,
                               anchor_refresh=3600)
    async with running_node(a_settings) as (_, a), running_node(b_settings) as (_, b):
        yield a, b


async def test_after_a_receipt_on_one_worker_the_other_reads_at_least_its_block(
        fresh_devnet: Devnet, two_workers: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    a, b = two_workers
    assert int(await _rpc(b, "eth_blockNumber"), 16) >= 0  # b's head, held for a minute
    for _ in range(3):
        to = "0x" + os.urandom(20).hex()
        tx_hash = _send(fresh_devnet.url, to)
        async with asyncio.timeout(10):
            while (receipt := await _rpc(a, "eth_getTransactionReceipt", tx_hash)) is None:
                await asyncio.sleep(0.01)
        block = int(receipt["blockNumber"], 16)
        assert int(await _rpc(b, "eth_blockNumber"), 16) >= block
        latest = await _rpc(b, "eth_getBlockByNumber", "latest", False)
        assert int(latest["number"], 16) >= block
        assert int(await _rpc(b, "eth_getBalance", to, "latest"), 16) == 1
        assert int(await _rpc(b, "eth_getTransactionCount", to), 16) == 0


async def _tx(client: httpx.AsyncClient, tx_hash: str) -> tuple[dict[str, Any], httpx.Response]:
    resp = await client.get(f"/api/v1/transactions/{tx_hash}")
    assert resp.status_code == 200
    return resp.json()["data"]["data"], resp


async def test_a_transaction_final_on_one_worker_is_final_on_the_other(
        fresh_devnet: Devnet, two_workers: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    a, b = two_workers
    url = fresh_devnet.url
    tx_hash = _send(url, "0x" + "22" * 20)
    async with asyncio.timeout(10):
        while rpc(url, "eth_getTransactionReceipt", [tx_hash]) is None:
            await asyncio.sleep(0.01)
    for client in (a, b):  # both keep it as not final (TTL_RECENT)
        data, _ = await _tx(client, tx_hash)
        assert data["finalized"] is False
    rpc(url, "anvil_mine", ["0x8"])
    async with asyncio.timeout(10):
        while not (shown := await _tx(a, tx_hash))[0]["finalized"]:
            await asyncio.sleep(0.02)
    etag = shown[1].headers["etag"]
    assert shown[1].headers["cache-control"].endswith("immutable")
    data, resp = await _tx(b, tx_hash)
    assert data["finalized"] is True
    assert resp.headers["etag"] == etag and resp.headers["cache-control"].endswith("immutable")
    block = await b.get(f"/api/v1/blocks/{data['blockNumber']}")
    assert block.json()["data"]["data"]["finalized"] is True
