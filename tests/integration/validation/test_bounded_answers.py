"""Answers no honest upstream gives, through the node's API, from a lying proxy in
front of real anvil: a 1 600-bit block number, a 50 MB result, transactions served
with another hash than their fields have. The node starts, never serves the lie
(REST /validate and /rpc get a refusal, or the honest answer when an honest upstream
is beside the liar) and counts the liar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from bizra_bench.trust_seed import TrustDevnet
from bizra_node.app import Node
from bizra_node.chain import redact_url
from bizra_node.chain.bounds import BOUNDS
from bizra_node.jsonrpc import INTEGRITY_FAILED
from bizra_node.resilience import State
from tests.integration.validation.conftest import node_behind
from tests.integration.validation.test_rpc_verified import refused, rpc
from tests.integration.validation.test_verified_answers import caught, validate
from tests.support.lying_proxy import LyingProxy, lying_proxy

HUGE = "0x" + "f" * 400  # 1 600 bits
FORGED = "0x" + "cd" * 32
FIFTY_MB = 50 * 1000 * 1000


@asynccontextmanager
async def liar_and_honest(devnet: TrustDevnet, **overrides: Any) -> AsyncIterator[
        tuple[LyingProxy, list[LyingProxy], Node, httpx.AsyncClient]]:
    """Three proxies in front of the same anvil; the first (the liar) is the fastest,
    so it is asked first. The node starts behind all three."""
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(devnet.url)) for _ in range(3)]
        for honest in proxies[1:]:
            honest.delay = 0.02
        node, client = await stack.enter_async_context(
            node_behind(*(p.url for p in proxies), **overrides))
        yield proxies[0], proxies[1:], node, client


def failures(node: Node, liar: LyingProxy, check: str) -> float:
    return float(node.metrics.upstream_integrity_failures.get((redact_url(liar.url), check)))


def let_back(node: Node) -> None:
    """The liar's breaker closed again (as after its reset timeout): asked first again."""
    node.upstreams.health[0].breaker.force(State.CLOSED)


# --- 1. bounded numbers ---------------------------------------------------------------

async def test_a_huge_block_number_from_one_of_three_at_start_and_while_running(
        trust_devnet: TrustDevnet) -> None:
    honest_head = int(trust_devnet.call("eth_blockNumber"), 16)
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(trust_devnet.url))
                   for _ in range(3)]
        bad = proxies[0]
        for honest in proxies[1:]:
            honest.delay = 0.02
        bad.lie("eth_blockNumber", lambda p, r: HUGE)
        bad.lie("eth_getBlockByNumber", lambda p, b: b and {**b, "number": HUGE},
                when=lambda p: p[0] == "latest")
        # the node starts (head polls on, so the liar's head is asked for at once)
        node, client = await stack.enter_async_context(
            node_behind(*(p.url for p in proxies), head_poll_interval=0.05))
        await node.upstreams.prober.poll_heads()
        assert node.exporter is not None
        node.exporter.flush()  # what raised OverflowError and ended the node before
        for _ in range(3):
            let_back(node)
            body = (await rpc(client, "eth_blockNumber")).json()
            assert int(body["result"], 16) == honest_head, body
            block = await validate(client, "block", "latest")
            assert block["valid"] is True and block["data"]["number"] == honest_head
        assert bad.rules[0].applied > 0
        assert failures(node, bad, BOUNDS) >= 1
        assert node.upstreams.heads.best(node.upstreams.heads.heads) == honest_head
        assert (await client.get("/health")).status_code == 200


async def test_a_huge_block_number_told_to_a_running_node(trust_devnet: TrustDevnet,
                                                          liar: LyingProxy) -> None:
    honest = int(trust_devnet.call("eth_blockNumber"), 16)
    async with node_behind(liar.url, ttl_head=0.05) as (node, client):
        assert int((await rpc(client, "eth_blockNumber")).json()["result"], 16) == honest
        liar.lie("eth_blockNumber", lambda p, r: HUGE)
        liar.lie("eth_getBlockByNumber", lambda p, b: b and {**b, "number": HUGE})
        for _ in range(3):
            await asyncio.sleep(0.1)  # the cached head expired: asked again
            body = (await rpc(client, "eth_blockNumber")).json()
            # the head it had (a head never goes backwards), or a refusal; never the lie
            assert body.get("result") == hex(honest) or body["error"]["code"] in (
                INTEGRITY_FAILED, -32603), body
            reply = await client.post("/api/v1/validate/block", json={"blockNumber": "latest"})
            assert reply.status_code in (200, 503), reply.text
            assert HUGE[:40] not in reply.text.replace(f"{HUGE[:40]}...", "")
            if reply.status_code == 200:
                assert reply.json()["data"]["valid"] is False
        assert liar.rules[0].applied >= 1
        assert failures(node, liar, BOUNDS) >= 1
        node.exporter.flush()
        liar.tell_the_truth()
        let_back(node)  # its breaker opened on the failures: as after its reset timeout
        await asyncio.sleep(0.1)
        body = (await rpc(client, "eth_blockNumber")).json()
        assert int(body["result"], 16) == honest, body


async def test_the_only_upstream_lying_from_the_start(trust_devnet: TrustDevnet,
                                                     liar: LyingProxy) -> None:
    liar.lie("eth_blockNumber", lambda p, r: HUGE)
    liar.lie("eth_getBlockByNumber", lambda p, b: b and {**b, "number": HUGE})
    async with node_behind(liar.url) as (node, client):  # it starts
        node.exporter.flush()
        body = (await rpc(client, "eth_blockNumber")).json()
        assert body["error"]["code"] in (INTEGRITY_FAILED, -32603), body
        reply = await client.post("/api/v1/validate/block", json={"blockNumber": "latest"})
        assert reply.status_code in (200, 503), reply.text
        assert "f" * 40 not in reply.text.replace(HUGE[:40], "")
        if reply.status_code == 200:
            assert reply.json()["data"]["valid"] is False
        assert (await client.get("/health")).status_code == 200
        assert failures(node, liar, BOUNDS) >= 1


async def test_a_huge_balance_or_gas_is_refused(trust_devnet: TrustDevnet,
                                                liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    async with node_behind(liar.url) as (node, client):
        liar.lie("eth_gasPrice", lambda p, r: "0x1" + "0" * 64)
        liar.lie("eth_estimateGas", lambda p, r: "0x1" + "0" * 16)
        refused(await rpc(client, "eth_gasPrice"), BOUNDS, liar)
        refused(await rpc(client, "eth_estimateGas", {"from": m.delegated, "to": m.untouched}),
                BOUNDS, liar)
        liar.lie("eth_getProof", lambda p, proof: {**proof, "balance": HUGE})
        caught(await validate(client, "address", m.delegated), BOUNDS, liar)
        assert failures(node, liar, BOUNDS) == 3


# --- 2. bounded size ------------------------------------------------------------------

async def test_fifty_megabytes_from_one_of_three(trust_devnet: TrustDevnet,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    m = trust_devnet.manifest
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(trust_devnet.url))
                   for _ in range(3)]
        bad = proxies[0]
        bad.lie("*", lambda p, r: "0x" + "00" * (FIFTY_MB // 2))
        node, client = await stack.enter_async_context(
            node_behind(*(p.url for p in proxies), head_poll_interval=0))
        tx = await validate(client, "transaction", m.txs["dynamic_fee"])
        assert tx["valid"] is True and tx["verification"]["level"] == "anchored"
        honest = int(trust_devnet.call("eth_blockNumber"), 16)
        let_back(node)
        assert int((await rpc(client, "eth_blockNumber")).json()["result"], 16) == honest
        name = redact_url(bad.url)
        too_large = sum(v for (n, _, outcome), v in node.metrics.upstream_calls.items()
                        if n == name and outcome == "too_large")
        assert too_large >= 1 and bad.rules[0].applied >= 1
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("larger than UPSTREAM_MAX_RESPONSE_BYTES (33554432 bytes)" in w
               for w in warned), warned


async def test_fifty_megabytes_from_the_only_upstream(trust_devnet: TrustDevnet,
                                                      liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    liar.lie("*", lambda p, r: "0x" + "00" * (FIFTY_MB // 2))
    async with node_behind(liar.url) as (node, client):  # it starts
        resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1,
                                               "method": "eth_getBalance",
                                               "params": [m.delegated, "latest"]})
        assert resp.status_code == 200
        error = resp.json()["error"]
        assert error["code"] == -32603 and "larger than" in error["data"]["lastError"], error
        reply = await client.post("/api/v1/validate/transaction",
                                  json={"txHash": m.mixed_txs["legacy"]})
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        liar.tell_the_truth()
        let_back(node)
        assert (await validate(client, "transaction", m.mixed_txs["legacy"]))["valid"] is True


# --- 3. hashes are computed, never copied ---------------------------------------------

def _forge_hashes(params: list[Any], block: Any) -> Any:
    if isinstance(block, dict):
        block["transactions"] = [{**t, "hash": FORGED} if isinstance(t, dict) else FORGED
                                 for t in block["transactions"]]
    return block


def _forge_receipts(params: list[Any], receipts: Any) -> Any:
    return [{**r, "transactionHash": FORGED} for r in receipts] if receipts else receipts


def _forge_log_hashes(params: list[Any], receipt: Any) -> Any:
    return receipt and {**receipt, "logs": [{**log, "transactionHash": FORGED}
                                            for log in receipt["logs"]]}


async def test_a_block_whose_transactions_carry_another_hash(trust_devnet: TrustDevnet,
                                                             liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    number = m.mixed_block
    async with node_behind(liar.url) as (node, client):
        liar.lie("eth_getBlockByNumber", _forge_hashes)
        liar.lie("eth_getBlockByHash", _forge_hashes)
        result = await validate(client, "block", number)
        caught(result, "tx_hash", liar)
        assert result.get("data") is None
        refused(await rpc(client, "eth_getBlockByNumber", hex(number), True), "tx_hash", liar)
        refused(await rpc(client, "eth_getBlockByNumber", hex(number), False), "tx_hash", liar)
        caught(await validate(client, "transaction", m.mixed_txs["blob"]), "tx_hash", liar)
        liar.tell_the_truth()
        honest = await validate(client, "block", number)
        assert honest["valid"] is True and FORGED not in str(honest)
        assert m.mixed_txs["set_code"] in honest["data"]["transactions"]
        assert failures(node, liar, "tx_hash") >= 4


async def test_receipts_and_logs_carrying_another_transaction_hash(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getBlockReceipts", _forge_receipts)
        caught(await validate(client, "transaction", m.txs["logs"]), "receipt_mismatch", liar)
        refused(await rpc(client, "eth_getTransactionReceipt", m.txs["logs"]),
                "receipt_mismatch", liar)
        liar.tell_the_truth()
        liar.lie("eth_getTransactionReceipt", _forge_log_hashes)
        refused(await rpc(client, "eth_getTransactionReceipt", m.txs["logs"]),
                "receipt_mismatch", liar)
        caught(await validate(client, "transaction", m.txs["logs"]), "receipt_mismatch", liar)
        liar.tell_the_truth()
        receipt = (await rpc(client, "eth_getTransactionReceipt", m.txs["logs"])).json()["result"]
        assert {log["transactionHash"] for log in receipt["logs"]} == {m.txs["logs"]}


async def test_forged_hashes_from_one_of_three_clients_get_the_honest_block(
        trust_devnet: TrustDevnet) -> None:
    m = trust_devnet.manifest
    async with liar_and_honest(trust_devnet, head_poll_interval=0) as (bad, _, node, client):
        bad.lie("eth_getBlockByNumber", _forge_hashes)
        bad.lie("eth_getBlockByHash", _forge_hashes)
        block = await validate(client, "block", m.mixed_block)
        assert block["valid"] is True and FORGED not in str(block)
        let_back(node)
        body = (await rpc(client, "eth_getBlockByNumber", hex(m.mixed_block), True)).json()
        hashes = [t["hash"] for t in body["result"]["transactions"]]
        assert FORGED not in hashes and m.mixed_txs["set_code"] in hashes
        assert failures(node, bad, "tx_hash") >= 1
