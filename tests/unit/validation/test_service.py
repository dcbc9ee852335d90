"""ValidationService on a rollup chain, against a small real JSON-RPC server serving an
OP-stack-shaped chain (tests/fixtures/opstack: a real Bedrock header, its real deposit,
a real signed transaction of the recorded anvil chain, the roots rebuilt): a deposit is
proven and anchored without any signature claimed; an Arbitrum-typed transaction is
``valid: null``/unverified naming its type, never refused; what its block's neighbours
cannot prove is said in ``verification.unproven``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from bizra_node.chain import UpstreamPool
from bizra_node.resilience import State
from bizra_node.validation import Prover, ValidationService
from tests.support.rollup import CHAIN, Chain, Rollup, arbitrum_block, mixed_block, rollup_pool


@asynccontextmanager
async def _service(*chains: Rollup, pools: list[UpstreamPool] | None = None
                   ) -> AsyncIterator[ValidationService]:
    async with rollup_pool(*chains) as (pool, view):
        if pools is not None:
            pools.append(pool)
        yield ValidationService(pool, view, Prover(pool, view), network_id=CHAIN)


def _json(result: object) -> dict[str, Any]:
    """The result as the API encodes it."""
    out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(result))
    return out


async def _tx(anvil_chain: Chain, build: Callable[[Chain], tuple[Any, Any]], index: int
              ) -> dict[str, Any]:
    block, receipts = build(anvil_chain)
    async with _service(Rollup(block, receipts)) as svc:
        return _json(await svc.validate_transaction(block["transactions"][index]["hash"]))


async def test_a_deposit_is_proven_and_anchored_without_a_signature(anvil_chain: Chain) -> None:
    result = await _tx(anvil_chain, mixed_block, 0)
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "anchored" and v["anchor"] == "first-use"
    assert "deposit_no_signature" in v["checks"] and "tx_signature" not in v["checks"]
    assert {"tx_hash", "transactions_root", "receipts_root", "not_in_block",
            "receipt_mismatch", "parent_link"} <= set(v["checks"])
    assert "unproven" not in v
    assert result["data"]["status"] == "confirmed" and result["data"]["type"] == 0x7E


async def test_an_arbitrum_type_is_unverified_not_refused(anvil_chain: Chain) -> None:
    result = await _tx(anvil_chain, arbitrum_block, 0)
    assert result["valid"] is None
    v = result["verification"]
    assert v["level"] == "unverified" and "checks" not in v and "failure" not in v
    assert "0x6a" in v["unproven"] and "Arbitrum" in v["unproven"]
    assert result["data"]["status"] == "confirmed" and result["data"]["blockNumber"] == 0x7FE52F


async def test_beside_an_arbitrum_type_a_signed_transaction_is_proven_not_its_inclusion(
        anvil_chain: Chain) -> None:
    result = await _tx(anvil_chain, arbitrum_block, 1)
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "consistent"
    assert v["checks"] == ["tx_fields", "tx_hash", "tx_signature", "tx_chain_id"]
    assert v["unproven"].startswith("inclusion and receipt not proven") and "0x6a" in v["unproven"]
    assert result["data"]["status"] == "confirmed"


async def test_a_block_holding_an_arbitrum_type_has_its_header_proven(anvil_chain: Chain) -> None:
    block, receipts = arbitrum_block(anvil_chain)
    async with _service(Rollup(block, receipts)) as svc:
        result = _json(await svc.validate_block(int(block["number"], 16)))
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "anchored" and v["checks"] == ["header_hash", "parent_link"]
    assert v["unproven"].startswith("transactions, withdrawals and receipts not proven")


async def test_unverified_answers_are_not_cached(anvil_chain: Chain) -> None:
    """transaction_entry: valid null is never kept (the next request asks again)."""
    from bizra_node.cache import TtlPolicy
    from bizra_node.validation.answer import transaction_entry
    from bizra_node.validation.types import TransactionResult

    block, receipts = arbitrum_block(anvil_chain)
    async with _service(Rollup(block, receipts)) as svc:
        result = await svc.validate_transaction(block["transactions"][0]["hash"])
    assert isinstance(result, TransactionResult) and result.valid is None
    entry = transaction_entry(result, 0x7FE52F + 100, TtlPolicy())
    assert entry.expires == 0.0 and not entry.final


async def test_a_liar_retyping_a_deposit_cannot_downgrade_it(anvil_chain: Chain) -> None:
    """Retyping one transaction would make any block unprovable: the node takes a block
    as such only when no upstream gives it in a form that proves. The liar is asked
    first (the honest upstream answers later); the honest block proves the deposit,
    and the liar's retyped transaction is a lie about a proven block."""
    block, receipts = mixed_block(anvil_chain)
    liar = Rollup(block, receipts, retype=True)
    honest = Rollup(block, receipts, delay=0.05)
    deposit = block["transactions"][0]["hash"]
    pools: list[UpstreamPool] = []
    async with _service(liar, honest, pools=pools) as svc:
        tx = _json(await svc.validate_transaction(deposit))
        lied = [h.breaker.state is State.OPEN for h in pools[0].health]
    assert lied == [True, False]  # the liar was asked, caught and taken out of rotation
    assert tx["valid"] is True and "unproven" not in tx["verification"]
    assert {"deposit_no_signature", "transactions_root", "not_in_block"} <= \
        set(tx["verification"]["checks"])


async def test_a_liar_retyping_a_block_cannot_downgrade_it(anvil_chain: Chain) -> None:
    block, receipts = mixed_block(anvil_chain)
    liar = Rollup(block, receipts, retype=True)
    honest = Rollup(block, receipts, delay=0.05)
    pools: list[UpstreamPool] = []
    async with _service(liar, honest, pools=pools) as svc:
        by_number = _json(await svc.validate_block(int(block["number"], 16)))
        lied = [h.breaker.state is State.OPEN for h in pools[0].health]
    assert lied == [True, False]
    assert by_number["valid"] is True and "unproven" not in by_number["verification"]
    assert "transactions_root" in by_number["verification"]["checks"]


async def test_an_isthmus_block_says_its_withdrawals_root_is_not_proven(
        anvil_chain: Chain) -> None:
    block, receipts = mixed_block(anvil_chain, withdrawals_root="0x" + "5a" * 32)
    async with _service(Rollup(block, receipts)) as svc:
        result = _json(await svc.validate_block(int(block["number"], 16)))
    v = result["verification"]
    assert result["valid"] is True and v["level"] == "anchored"
    assert "withdrawals_root" not in v["checks"] and "transactions_root" in v["checks"]
    assert v["unproven"].startswith("withdrawalsRoot not proven: an OP-stack block")
