"""Two node processes sharing one Redis and one PostgreSQL, a reorg on anvil.

Node A follows the heads and notices the reorg; node B does not follow heads at all, so
only the news over Redis pub/sub can drop its cached answers. TTL_RECENT, TTL_NOT_FOUND
and L1_MAX_TTL are an hour: a fresh answer on B can only come from invalidation. After
B's answer changes, no request on either node sees the old block as canonical, and the
validations of the replaced block are marked in the shared records.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from bizra_node.devnet import rpc, wait_receipt
from tests.conftest import TEST_CACHE_SECRET, Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.postgres import scratch_database
from tests.support.redis_server import RedisServer
from tests.support.reorgs import signed_transfer, upstream_block, upstream_receipt

LONG = {"TTL_RECENT": "3600", "TTL_NOT_FOUND": "3600", "L1_MAX_TTL": "3600"}


async def tx_block_hash(http: httpx.AsyncClient, tx_hash: str) -> str | None:
    """The block hash a node says the transaction is in (None: not mined / not found)."""
    resp = await http.get(f"/api/v1/transactions/{tx_hash}")
    assert resp.status_code == 200, resp.text
    tx = resp.json()["data"].get("data")
    return None if tx is None else tx["blockHash"]


async def seen_hashes(http: httpx.AsyncClient, tx_hash: str, number: int) -> set[str | None]:
    """Every hash a node gives for the block at ``number``: by the transaction (REST and
    /rpc) and by number (REST and /rpc)."""
    block = (await http.get(f"/api/v1/blocks/{number}")).json()["data"]["data"]["hash"]
    calls = [{"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt",
              "params": [tx_hash]},
             {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber",
              "params": [hex(number), False]}]
    receipt, by_number = (await http.post("/rpc", json=calls)).json()
    return {await tx_block_hash(http, tx_hash), block,
            (receipt["result"] or {}).get("blockHash"), by_number["result"]["hash"]}


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


@pytest.mark.slow
@pytest.mark.parametrize(("depth", "moved"), [(1, False), (3, True), (10, True)])
async def test_a_reorg_seen_by_one_node_reaches_the_others_cache(deep_devnet: Devnet,
                                                                 depth: int, moved: bool) -> None:
    url, accounts = deep_devnet.url, deep_devnet.manifest.accounts
    redis = RedisServer().start()
    procs: list[Any] = []
    try:
        async with scratch_database() as dsn:
            common = {"BIZRA_NODE_URL": url, "REDIS_URL": redis.url,
                      "CACHE_SECRET": TEST_CACHE_SECRET, "DB_ENABLED": "true",
                      "DATABASE_URL": dsn, "WRITE_BATCH_INTERVAL": "0.05", **LONG}
            proc_a, base_a = start_server({**common, "HEAD_FOLLOW_INTERVAL": "0.25"})
            procs.append(proc_a)
            proc_b, base_b = start_server({**common, "HEAD_FOLLOW_WS": "off",
                                           "HEAD_FOLLOW_INTERVAL": "0"})
            procs.append(proc_b)
            raw = signed_transfer(url, accounts[3], accounts[4])
            tx_hash = rpc(url, "eth_sendRawTransaction", [raw])
            receipt = wait_receipt(url, tx_hash)
            number, old = int(receipt["blockNumber"], 16), receipt["blockHash"]
            async with httpx.AsyncClient(base_url=base_a, timeout=10) as a, \
                    httpx.AsyncClient(base_url=base_b, timeout=10) as b:
                for node in (a, b, b):  # cached on both, B's second answer from its L1
                    assert await seen_hashes(node, tx_hash, number) == {old}
                await asyncio.sleep(0.5)  # A's head follower has linked the block

                rpc(url, "anvil_reorg", [depth, [[raw, depth // 2]] if moved else []])
                start = time.monotonic()
                while await tx_block_hash(b, tx_hash) == old:
                    assert time.monotonic() - start < 5, "B still serves the replaced block"
                    await asyncio.sleep(0.02)

                new_receipt = upstream_receipt(url, tx_hash)
                assert (new_receipt is not None) == moved
                replacing = upstream_block(url, number)["hash"]
                want = {replacing, new_receipt["blockHash"] if new_receipt else None}
                end = time.monotonic() + 1.0
                while time.monotonic() < end:  # nobody sees the old block any more
                    for node in (a, b):
                        seen = await seen_hashes(node, tx_hash, number)
                        assert old not in seen and seen <= want, seen
                metrics_b = (await b.get("/metrics")).text
                assert metric(metrics_b, "reorg_propagation_seconds_count") >= 1
                assert metric(metrics_b, "chain_reorgs_total") == 0  # B noticed nothing
                metrics_a = (await a.get("/metrics")).text
                assert metric(metrics_a, "chain_reorgs_total") == 1

                # the validations of the replaced block are marked, once, in the records
                deadline = time.monotonic() + 15
                while True:
                    page = (await a.get("/api/v1/validations",
                                        params={"reorged": "true", "kind": "transaction",
                                                "subject": tx_hash})).json()["data"]
                    if page["items"] or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
                assert page["items"], "the reorged validation was not marked"
                for item in page["items"]:
                    assert item["reorged"]["fork"] == number - depth
                    assert item["reorged"]["replacedBy"] == replacing
                standing = (await a.get("/api/v1/validations",
                                        params={"reorged": "false", "kind": "transaction",
                                                "subject": tx_hash})).json()["data"]["items"]
                assert all(i["reorged"] is None for i in standing)
    finally:
        for proc in procs:
            stop_server(proc)
        redis.stop()
