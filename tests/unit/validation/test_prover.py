"""Prover: a block proven once per hash with its receipts (memoised, bounded), a
transaction proven in its block and linked to the anchor with the timestamp by name,
a block answer checked for the number asked, and what an upstream that will not prove
gets. Over real HTTP from the recorded chain (tests/support/recorded_headers.py), the
anchor by first use at the recorded tip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bizra_node.errors import ProofUnavailable, Unproven
from bizra_node.jsonrpc import RpcError
from bizra_node.validation import ChainView, ChainViewConfig, Prover
from bizra_node.validation.prover import Proof, block_weight, unproven, withheld
from bizra_node.validation.trust import Check, TrustError
from tests.support.recorded_chain import RecordedChain
from tests.support.recorded_headers import TIP, Served, header, header_upstream, pool_over, recorded_header

CHAIN = RecordedChain()
NETWORK = CHAIN.manifest.chain_id
LEGACY = CHAIN.manifest.txs["legacy"]


@asynccontextmanager
async def prover_over(memo_blocks: int = 256, memo_bytes: int = 64 << 20
                      ) -> AsyncIterator[tuple[Prover, Served]]:
    async with header_upstream(CHAIN, finalized=TIP) as served, pool_over(served.url) as pool:
        chain = ChainView(pool, ChainViewConfig(walk_limit=64))
        prover = Prover(pool, chain, memo_blocks=memo_blocks, memo_bytes=memo_bytes)
        try:
            yield prover, served
        finally:
            await prover.close()
            await chain.close()


def tx_and_receipt(tx_hash: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return (CHAIN.call("eth_getTransactionByHash", tx_hash),
            CHAIN.call("eth_getTransactionReceipt", tx_hash))


async def test_a_mined_transaction_is_proven_in_its_block_and_linked_to_the_anchor() -> None:
    tx, receipt = tx_and_receipt(LEGACY)
    async with prover_over() as (prover, _):
        proof = Proof()
        await prover.transaction(proof, tx, receipt, want=bytes.fromhex(LEGACY[2:]),
                                 network_id=NETWORK)
    number = int(tx["blockNumber"], 16)
    assert proof.mined_at == int(recorded_header(CHAIN, number)["timestamp"], 16)
    assert proof.anchor is not None and proof.anchor.number == TIP
    assert {Check.TX_HASH, Check.TX_SIGNATURE, Check.TRANSACTIONS_ROOT,
            Check.RECEIPTS_ROOT, Check.PARENT_LINK} <= set(proof.checks)
    assert proof.verification.level.value == "anchored"


async def test_a_pending_transaction_is_proven_alone_with_nothing_to_anchor() -> None:
    tx, _ = tx_and_receipt(LEGACY)
    tx.update(blockHash=None, blockNumber=None, transactionIndex=None)
    async with prover_over() as (prover, served):
        proof = Proof()
        await prover.transaction(proof, tx, None, want=bytes.fromhex(LEGACY[2:]),
                                 network_id=NETWORK)
    assert proof.mined_at is None and proof.anchor is None
    assert "eth_getBlockByHash" not in served.asked  # no block to prove it in
    assert Check.TX_SIGNATURE in proof.checks


async def test_another_transaction_than_the_one_asked_for_fails() -> None:
    tx, receipt = tx_and_receipt(LEGACY)
    async with prover_over() as (prover, _):
        with pytest.raises(TrustError) as exc:
            await prover.transaction(Proof(), tx, receipt, want=b"\x01" * 32,
                                     network_id=NETWORK)
    assert exc.value.check is Check.TX_HASH


async def test_a_block_is_fetched_once_and_the_memo_is_bounded() -> None:
    first = bytes.fromhex(tx_and_receipt(LEGACY)[0]["blockHash"][2:])
    second = bytes.fromhex(
        tx_and_receipt(CHAIN.manifest.txs["access_list"])[0]["blockHash"][2:])
    async with prover_over(memo_blocks=1) as (prover, served):
        proven = await prover.block(first)
        asked = len(served.asked)
        assert await prover.block(first) is proven and len(served.asked) == asked
        both = await asyncio.gather(prover.block(second), prover.block(second))
        assert both[0] is both[1] and len(served.asked) == asked + 2  # one fetch, shared
        await prover.block(first)  # pushed out by the second: fetched again
        assert len(served.asked) == asked + 4
    assert proven.header.hash == first and proven.receipts is not None


async def test_the_memo_is_bounded_by_its_blocks_estimated_bytes_too() -> None:
    """Many small blocks fit where a count bound would push them out, big ones do not:
    the memo keeps what fits in its bytes (always the newest block)."""
    hashes = [bytes.fromhex(tx_and_receipt(CHAIN.manifest.txs[kind])[0]["blockHash"][2:])
              for kind in ("legacy", "access_list", "dynamic_fee")]
    async with prover_over(memo_blocks=1000) as (prover, served):
        blocks = [await prover.block(h) for h in hashes]
        weights = [block_weight(b) for b in blocks]
        assert all(w > 1024 for w in weights) and prover.memo_bytes == sum(weights)
        asked = len(served.asked)
        for h in hashes:  # all three kept
            await prover.block(h)
        assert len(served.asked) == asked
    async with prover_over(memo_blocks=1000, memo_bytes=weights[1] + weights[2]) as (
            prover, served):
        for h in hashes:
            await prover.block(h)
        assert prover.memo_bytes == weights[1] + weights[2]  # the oldest went for bytes
        asked = len(served.asked)
        await prover.block(hashes[2])
        await prover.block(hashes[1])
        assert len(served.asked) == asked
        await prover.block(hashes[0])  # pushed out: fetched again
        assert len(served.asked) == asked + 2
    async with prover_over(memo_blocks=1000, memo_bytes=1) as (prover, _):
        await prover.block(hashes[0])
        assert prover.memo_bytes == weights[0]  # the newest is always kept


async def test_a_block_answer_must_be_the_number_asked_for() -> None:
    full = CHAIN.call("eth_getBlockByNumber", "0x3", True)
    async with prover_over() as (prover, _):
        proof = Proof()
        proven = await prover.answered_block(proof, full, None, number=3)
        assert proven.header == header(full) and proof.anchor is not None
        with pytest.raises(TrustError) as exc:
            await prover.answered_block(Proof(), full, None, number=4)
    assert exc.value.check is Check.HEADER_HASH


def test_an_upstream_that_will_not_prove_is_passed_over_then_said() -> None:
    exc = withheld("the eth_getProof of block 7", RpcError(-32601, "method not found"))
    assert isinstance(exc, ProofUnavailable)
    assert "would not give the eth_getProof of block 7 (-32601: method not found)" in exc.message
    assert withheld("the header of block 7").message.endswith("(null)")
    exc.upstream = "up"
    said = unproven(exc)
    assert isinstance(said, Unproven)
    assert said.details["reason"] == Check.PROOF_UNAVAILABLE.value and \
        said.details["upstream"] == "up"
