"""Verified answers through the node's API: honest data for every transaction type
proves (anchored), and a lying upstream (a real proxy rewriting answers in front of
anvil) is caught by the check that names it: the answer is ``valid: false`` with the
check and the upstream, it is never cached, the upstream is counted; with three
upstreams of which one lies, clients get the honest answer."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from eth_hash.auto import keccak

from bizra_bench.trust_seed import TrustDevnet
from bizra_node.chain import redact_url
from bizra_node.validation.trust import header_hash, transaction_hash
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy

KINDS = ["legacy", "legacy_pre155", "access_list", "dynamic_fee", "logs", "create", "reverted",
         "blob", "set_code"]


async def validate(client: httpx.AsyncClient, kind: str, value: Any) -> dict[str, Any]:
    field = {"transaction": "txHash", "block": "blockNumber", "address": "address"}[kind]
    resp = await client.post(f"/api/v1/validate/{kind}", json={field: value})
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


def caught(result: dict[str, Any], check: str, liar: LyingProxy) -> None:
    assert result["valid"] is False, result
    failure = result["verification"]["failure"]
    assert failure["check"] == check, failure
    assert failure["upstream"] == redact_url(liar.url)
    assert check in result["error"]


async def test_honest_answers_are_proven_for_every_transaction_type(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """One upstream: every answer is proven against its block; a block at or below the
    first-use anchor is anchored, one above it consistent (one upstream vouches for no
    head; with a quorum of upstreams: anchored, as three upstreams below)."""
    async with node_behind(liar.url) as (_, client):
        for kind in KINDS:
            for tx_hash in (trust_devnet.manifest.txs[kind],
                            trust_devnet.manifest.mixed_txs[kind]):
                result = await validate(client, "transaction", tx_hash)
                assert result["valid"] is True, (kind, result)
                v = result["verification"]
                block = int(result["data"]["blockNumber"])
                if v["level"] == "anchored":  # at or below the first-use anchor
                    assert v["anchor"] == "first-use" and block <= v["anchorNumber"], v
                    assert "parent_link" in v["checks"]
                else:
                    assert v["level"] == "consistent" and "parent_link" not in v["checks"], v
                for check in ("tx_hash", "tx_signature", "transactions_root", "receipts_root",
                              "not_in_block", "receipt_mismatch"):
                    assert check in v["checks"], (kind, check)
                assert ("tx_chain_id" in v["checks"]) is (kind != "legacy_pre155")
        m = trust_devnet.manifest
        for address in (m.log_contract, m.untouched, m.delegated):
            account = await validate(client, "address", address)
            assert account["valid"] is True
            assert account["verification"]["checks"][:3] == [
                "header_hash", "account_proof", "code_hash"]
        block = await validate(client, "block", m.head)
        assert block["verification"]["level"] == "consistent"


def _tx(tx_hash: str) -> Any:
    return lambda params: params[0] == tx_hash


@pytest.mark.parametrize("field, value", [("value", "0xde0b6b3a7640000"),
                                          ("to", "0x" + "66" * 20), ("input", "0xa9059cbb"),
                                          ("r", "0x" + "12" * 32)])
async def test_a_changed_transaction_is_caught_and_never_cached(
        trust_devnet: TrustDevnet, liar: LyingProxy, field: str, value: str) -> None:
    tx_hash = trust_devnet.manifest.txs["dynamic_fee"]
    async with node_behind(liar.url) as (node, client):
        rule = liar.lie("eth_getTransactionByHash", lambda p, tx: {**tx, field: value},
                        when=_tx(tx_hash))
        caught(await validate(client, "transaction", tx_hash), "tx_hash", liar)
        again = await validate(client, "transaction", tx_hash)  # not cached: asked again
        assert rule.applied == 2 and again["valid"] is False
        assert node.metrics.upstream_integrity_failures.get(
            (node.upstreams.health[0].name, "tx_hash")) == 2
        liar.tell_the_truth()
        assert (await validate(client, "transaction", tx_hash))["valid"] is True


async def test_a_changed_sender_fails_the_signature(trust_devnet: TrustDevnet,
                                                    liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.txs["legacy"]
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getTransactionByHash", lambda p, tx: {**tx, "from": "0x" + "66" * 20})
        caught(await validate(client, "transaction", tx_hash), "tx_signature", liar)

        def resign(params: list[Any], tx: dict[str, Any]) -> dict[str, Any]:
            tx["s"] = hex(int(tx["s"], 16) // 2)
            tx["hash"] = "0x" + transaction_hash(tx).hex()
            return tx

        liar.tell_the_truth()
        liar.lie("eth_getTransactionByHash", resign)
        caught(await validate(client, "transaction", tx_hash), "tx_hash", liar)


async def test_a_fabricated_transaction(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    made_up = "0x" + keccak(b"a transaction nobody sent").hex()
    real = trust_devnet.bundle(trust_devnet.manifest.txs["dynamic_fee"])
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getTransactionByHash", lambda p, _: {**real.tx, "hash": made_up},
                 when=_tx(made_up))
        liar.lie("eth_getTransactionReceipt",
                 lambda p, _: {**real.receipt, "transactionHash": made_up}, when=_tx(made_up))
        caught(await validate(client, "transaction", made_up), "tx_hash", liar)


@pytest.mark.parametrize("everywhere", [False, True])
async def test_a_flipped_status(trust_devnet: TrustDevnet, liar: LyingProxy,
                                everywhere: bool) -> None:
    tx_hash = trust_devnet.manifest.txs["reverted"]
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getTransactionReceipt", lambda p, r: {**r, "status": "0x1"})
        if everywhere:  # a consistent liar: the receipts no longer have the header's root
            liar.lie("eth_getBlockReceipts", lambda p, rs: [{**r, "status": "0x1"} for r in rs])
        caught(await validate(client, "transaction", tx_hash),
               "receipts_root" if everywhere else "receipt_mismatch", liar)


async def test_a_removed_log(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.txs["logs"]
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getTransactionReceipt", lambda p, r: {**r, "logs": r["logs"][1:]})
        caught(await validate(client, "transaction", tx_hash), "receipt_mismatch", liar)


async def test_an_altered_transaction_list_under_an_intact_header(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    number = int(trust_devnet.bundle(m.mixed_txs["logs"]).block["number"], 16)
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getBlockByNumber", lambda p, b: {**b, "transactions": b["transactions"][1:]},
                 when=lambda p: p[0] == hex(number) and p[1] is True)
        caught(await validate(client, "block", number), "transactions_root", liar)
        liar.tell_the_truth()  # and a transaction of that block, proven through its hash
        liar.lie("eth_getBlockByHash", lambda p, b: {**b, "transactions": b["transactions"][:-1]})
        caught(await validate(client, "transaction", m.mixed_txs["logs"]), "transactions_root",
               liar)


async def test_an_inflated_balance_a_tampered_proof_and_swapped_code(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    other_code = trust_devnet.call("eth_getCode", m.reverting_contract, hex(m.head))

    def tampered(params: list[Any], proof: dict[str, Any]) -> dict[str, Any]:
        leaf = bytearray.fromhex(proof["accountProof"][-1][2:])
        leaf[-70] ^= 0x10
        proof["accountProof"][-1] = "0x" + leaf.hex()
        return proof

    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getProof", lambda p, proof: {
            **proof, "balance": hex(int(proof["balance"], 16) + 10**21)})
        caught(await validate(client, "address", m.delegated), "account_proof", liar)
        liar.tell_the_truth()
        liar.lie("eth_getProof", tampered)
        caught(await validate(client, "address", m.delegated), "account_proof", liar)
        liar.tell_the_truth()
        liar.lie("eth_getCode", lambda p, code: other_code)
        caught(await validate(client, "address", m.log_contract), "code_hash", liar)


async def test_a_forged_parent_link(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """A block re-parented onto a made-up parent and re-hashed: its header hashes right,
    but it is not the block the anchored chain has at that number."""
    number = trust_devnet.manifest.head - 1

    def reparent(params: list[Any], block: dict[str, Any]) -> dict[str, Any]:
        block["parentHash"] = "0x" + keccak(b"another parent").hex()
        block["transactions"] = block["transactions"]
        block["hash"] = "0x" + header_hash(block).hex()
        return block

    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getBlockByNumber", reparent,
                 when=lambda p: p[0] == hex(number) and p[1] is True)
        caught(await validate(client, "block", number), "parent_link", liar)


async def test_three_upstreams_one_liar_clients_get_the_honest_answer(
        trust_devnet: TrustDevnet) -> None:
    """The same chain behind three proxies, one of which lies about everything it can:
    every answer is the honest one and the liar is counted and taken out of rotation."""
    m = trust_devnet.manifest
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(trust_devnet.url))
                   for _ in range(3)]
        bad = proxies[0]
        bad.lie("eth_getTransactionByHash", lambda p, tx: tx and {**tx, "value": "0x1"})
        bad.lie("eth_getTransactionReceipt", lambda p, r: r and {**r, "status": "0x1"})
        bad.lie("eth_getProof", lambda p, proof: {**proof, "balance": "0xffffffff"})
        async with node_behind(*(p.url for p in proxies), head_poll_interval=0) as (node, client):
            for kind in KINDS:
                result = await validate(client, "transaction", m.txs[kind])
                assert result["valid"] is True and result["verification"]["level"] == "anchored"
                assert result["verification"]["anchor"] == "quorum"
            honest = trust_devnet.call("eth_getBalance", m.delegated, hex(m.head))
            account = await validate(client, "address", m.delegated)
            assert account["valid"] is True
            assert int(account["data"]["balance"]) == int(honest, 16)
            failures = sum(v for (name, _), v in node.metrics.upstream_integrity_failures.items()
                           if name == node.upstreams.health[0].name)
            # told once, then out (a transaction's and its receipt's lies share a batch)
            assert (failures > 0) is any(r.applied for r in bad.rules)
            assert failures <= sum(r.applied for r in bad.rules)
