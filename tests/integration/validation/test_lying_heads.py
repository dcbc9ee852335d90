"""Lying upstreams against the head rule and absence (real proxies in front of anvil):

* a fake head -- a liar that reports the real head + 1 000 and serves hash-correct
  blocks linked to the real head: among three honest upstreams, the node's head (REST,
  /rpc, 'latest') stays the real one and no fake block is served ``anchored``; alone,
  it is the node's head (one upstream is its own quorum), but its blocks above the
  anchor are only ``consistent``;
* omission -- a liar, the fastest of three, that answers null for a transaction, its
  receipt and its block: the found answer is served on every surface, the honest
  upstreams are asked, and the liar is counted (check ``omission``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from bizra_bench.trust_seed import TrustDevnet
from bizra_node.validation.trust import header_hash
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy

AHEAD = 1000
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"


def fake_chain(head: dict[str, Any], count: int) -> dict[int, dict[str, Any]]:
    """``count`` empty blocks on top of ``head``, each one's hash recomputed from its
    header and its parentHash the block below: what a liar can make without any work."""
    blocks: dict[int, dict[str, Any]] = {}
    parent = head
    for _ in range(count):
        block = {**parent, "number": hex(int(parent["number"], 16) + 1),
                 "parentHash": parent["hash"],
                 "timestamp": hex(int(parent["timestamp"], 16) + 12),
                 "transactions": [], "transactionsRoot": EMPTY_ROOT,
                 "receiptsRoot": EMPTY_ROOT, "logsBloom": "0x" + "00" * 256, "gasUsed": "0x0"}
        if "withdrawals" in block:
            block["withdrawals"], block["withdrawalsRoot"] = [], EMPTY_ROOT
        if "blobGasUsed" in block:
            block["blobGasUsed"] = "0x0"
        block["hash"] = "0x" + header_hash(block).hex()
        blocks[int(block["number"], 16)] = block
        parent = block
    return blocks


def tell_a_fake_head(liar: LyingProxy, devnet: TrustDevnet) -> dict[int, dict[str, Any]]:
    """Make ``liar`` report the real head + AHEAD and serve the fake blocks up to it (by
    number, 'latest' and hash); returns them."""
    real = devnet.manifest.head
    fake = fake_chain(devnet.block(real, full=False), AHEAD)
    by_hash = {b["hash"]: b for b in fake.values()}
    top = fake[real + AHEAD]

    def by_number(params: list[Any], block: Any) -> Any:
        tag = params[0]
        if tag == "latest":
            return top
        if isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) in fake:
            return fake[int(tag, 16)]
        return block

    liar.lie("eth_blockNumber", lambda p, r: hex(real + AHEAD))
    liar.lie("eth_getBlockByNumber", by_number)
    liar.lie("eth_getBlockByHash", lambda p, b: by_hash.get(p[0], b))
    return fake


async def rpc(client: httpx.AsyncClient, method: str, *params: Any) -> httpx.Response:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp


async def validate(client: httpx.AsyncClient, kind: str, value: Any) -> dict[str, Any]:
    field = {"transaction": "txHash", "block": "blockNumber"}[kind]
    resp = await client.post(f"/api/v1/validate/{kind}", json={field: value})
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


async def head_of(client: httpx.AsyncClient) -> int:
    resp = await client.get("/api/v1/validate/block-number")
    assert resp.status_code == 200, resp.text
    return int(resp.json()["data"]["blockNumber"])


def anchored(verification: dict[str, Any] | None) -> bool:
    return verification is not None and verification.get("level") == "anchored"


@asynccontextmanager
async def liar_and_honest(devnet: TrustDevnet, honest: int) -> AsyncIterator[
        tuple[LyingProxy, list[LyingProxy]]]:
    """A liar (the fastest: asked first) and ``honest`` slower honest proxies."""
    async with AsyncExitStack() as stack:
        liar = await stack.enter_async_context(lying_proxy(devnet.url))
        others = [await stack.enter_async_context(lying_proxy(devnet.url))
                  for _ in range(honest)]
        for p in others:
            p.delay = 0.03
        yield liar, others


async def test_a_fake_head_among_three_honest_upstreams_moves_nothing(
        trust_devnet: TrustDevnet) -> None:
    real = trust_devnet.manifest.head
    async with liar_and_honest(trust_devnet, 3) as (liar, honest):
        fake = tell_a_fake_head(liar, trust_devnet)
        urls = [liar.url, *(p.url for p in honest)]
        async with node_behind(*urls, hedge_enabled=False) as (node, client):
            assert node.upstreams.head_quorum == 2
            for _ in range(3):  # asked again: the liar's answers keep coming first
                assert await head_of(client) == real
                assert int((await rpc(client, "eth_blockNumber")).json()["result"], 16) == real
            latest = await rpc(client, "eth_getBlockByNumber", "latest", False)
            assert int(latest.json()["result"]["number"], 16) == real
            assert latest.headers["x-verification"].startswith("anchored; anchor=quorum")
            block = await validate(client, "block", "latest")
            assert block["valid"] is True and int(block["data"]["number"]) == real
            assert anchored(block["verification"])
            for n in (real + 1, real + AHEAD // 2, real + AHEAD):
                result = await validate(client, "block", n)
                assert not (result["valid"] and anchored(result["verification"])), result
                resp = await rpc(client, "eth_getBlockByNumber", hex(n), False)
                if resp.json().get("result") is not None:  # the liar's, proven consistent
                    assert resp.json()["result"]["hash"] == fake[n]["hash"]
                    assert not resp.headers["x-verification"].startswith("anchored"), n
            assert node.chain.best_head == real
            liar_name = node.upstreams.health[0].name
            assert node.upstreams.heads.heads[liar_name] == real + AHEAD  # it was heard
            assert sum(r.applied for r in liar.rules) > 0  # the lies were told


async def test_a_lone_liars_fake_blocks_are_not_anchored(trust_devnet: TrustDevnet,
                                                        liar: LyingProxy) -> None:
    """One upstream is its own quorum: its head is the node's head, but nothing vouches
    for a block above the anchor, so its fake blocks are consistent, never anchored."""
    real = trust_devnet.manifest.head
    fake = tell_a_fake_head(liar, trust_devnet)
    async with node_behind(liar.url) as (_, client):
        assert await head_of(client) == real + AHEAD
        for n in (real + 1, real + AHEAD):
            result = await validate(client, "block", n)
            assert result["valid"] is True, result
            assert result["data"]["hash"] == fake[n]["hash"]
            assert result["verification"]["level"] == "consistent", result
            resp = await rpc(client, "eth_getBlockByNumber", hex(n), False)
            assert resp.headers["x-verification"].startswith("consistent"), n


async def test_an_omitting_liar_is_overruled_and_counted(trust_devnet: TrustDevnet) -> None:
    m = trust_devnet.manifest
    tx_hash = m.txs["dynamic_fee"]
    tx = trust_devnet.call("eth_getTransactionByHash", tx_hash)
    async with liar_and_honest(trust_devnet, 2) as (liar, honest):
        for method in ("eth_getTransactionByHash", "eth_getTransactionReceipt",
                       "eth_getBlockByHash"):
            liar.lie(method, lambda p, r: None)
        async with node_behind(liar.url, *(p.url for p in honest), hedge_enabled=False,
                               cb_failure_threshold=100) as (node, client):
            name = node.upstreams.health[0].name
            result = await validate(client, "transaction", tx_hash)
            assert result["valid"] is True, result
            assert result["data"]["hash"] == tx_hash
            assert anchored(result["verification"])
            omissions = node.metrics.upstream_integrity_failures.get((name, "omission"))
            assert omissions >= 1
            assert sum(p.calls["eth_getTransactionByHash"] for p in honest) >= 1
            receipt = (await rpc(client, "eth_getTransactionReceipt", tx_hash)).json()
            assert receipt["result"]["transactionHash"] == tx_hash
            by_hash = (await rpc(client, "eth_getBlockByHash", tx["blockHash"], False)).json()
            assert by_hash["result"]["hash"] == tx["blockHash"]
            assert sum(r.applied for r in liar.rules) >= 1
            for h in node.upstreams.health[1:]:  # the honest ones are never blamed
                assert node.metrics.upstream_integrity_failures.get((h.name, "omission")) == 0
            # absent on every upstream: "not found", asked of two, nobody blamed
            missing = "0x" + "ab" * 32
            asked = [p.calls["eth_getTransactionByHash"] for p in (liar, *honest)]
            absent = await validate(client, "transaction", missing)
            assert absent["valid"] is False and absent["error"] == "Transaction not found"
            now = [p.calls["eth_getTransactionByHash"] for p in (liar, *honest)]
            assert sum(now) - sum(asked) == 2
            assert node.metrics.upstream_integrity_failures.get((name, "omission")) == omissions


async def test_an_omission_on_rpc_is_overruled_and_counted(trust_devnet: TrustDevnet) -> None:
    """The same through /rpc, first thing after the start (the liar still in rotation):
    each null is asked of an honest upstream, the proven answer served and the liar
    counted; an unknown hash is null, asked of two."""
    m = trust_devnet.manifest
    tx_hash = m.txs["logs"]
    async with liar_and_honest(trust_devnet, 2) as (liar, honest):
        rules = {method: liar.lie(method, lambda p, r: None)
                 for method in ("eth_getTransactionReceipt", "eth_getTransactionByHash")}
        async with node_behind(liar.url, *(p.url for p in honest),
                               hedge_enabled=False) as (node, client):
            name = node.upstreams.health[0].name
            resp = await rpc(client, "eth_getTransactionReceipt", tx_hash)
            assert resp.json()["result"]["transactionHash"] == tx_hash
            assert resp.headers["x-verification"].startswith("anchored")
            assert rules["eth_getTransactionReceipt"].applied == 1  # the liar was asked first
            assert sum(p.calls["eth_getTransactionReceipt"] for p in honest) >= 1
            # one per omitted answer (the proof batch asks for the transaction too)
            assert node.metrics.upstream_integrity_failures.get((name, "omission")) >= 1
            unknown = await rpc(client, "eth_getTransactionByHash", "0x" + "cd" * 32)
            assert unknown.json()["result"] is None
