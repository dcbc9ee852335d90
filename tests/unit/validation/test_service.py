"""ValidationService on a rollup chain, against a small real JSON-RPC server serving an
OP-stack-shaped chain (tests/fixtures/opstack: a real Bedrock header, its real deposit,
a real signed transaction of the recorded anvil chain, the roots rebuilt): a deposit is
proven and anchored without any signature claimed; an Arbitrum-typed transaction is
``valid: null``/unverified naming its type, never refused; what its block's neighbours
cannot prove is said in ``verification.unproven``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import msgspec
import pytest
from aiohttp import web

from bizra_node.app import upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.resilience import State
from bizra_node.validation import ChainView, ChainViewConfig, ValidationService
from bizra_node.validation.trust import header_hash, reference_trie_root
from tests.conftest import make_settings
from tests.support.recorded_chain import RecordedChain
from tests.support.servers import scripted_upstream

from .trust.conftest import Chain, clone
from .trust.test_deposit import CHAIN, _mixed_block

ARBITRUM_INTERNAL = {
    "type": "0x6a", "hash": "0x" + "6a" * 32, "from": "0x00000000000000000000000000000000000a4b05",
    "to": "0x00000000000000000000000000000000000a4b05", "gas": "0x0", "gasPrice": "0x0",
    "input": "0x6bf6a42d", "nonce": "0x0", "value": "0x0", "chainId": "0x7a69",
    "v": "0x0", "r": "0x0", "s": "0x0", "transactionIndex": "0x0"}
"""Arbitrum's per-block internal transaction, in the shape Nitro serves it (constructed
for the test: no hash can be checked without Nitro's encoding)."""


@pytest.fixture(scope="module")
def trust_chain() -> Chain:
    """The recorded anvil chain the signed transaction comes from (read only: the
    calls are test_deposit's, recorded with it)."""
    return RecordedChain()


class _Rollup:
    """One block's chain as an L2 node serves it: the block is latest and finalized.
    ``retype``: a liar's, giving its first transaction type 0x6a (the header intact);
    ``delay``: seconds before each answer."""

    def __init__(self, block: dict[str, Any], receipts: list[dict[str, Any]], *,
                 retype: bool = False, delay: float = 0.0) -> None:
        if retype:
            block = clone(block)
            block["transactions"][0]["type"] = "0x6a"
        self.block, self.receipts, self.delay = block, receipts, delay
        self.txs = {tx["hash"]: tx for tx in block["transactions"]}
        self.by_tx = {r["transactionHash"]: r for r in receipts}
        self.requests = 0

    def answer(self, method: str, params: list[Any]) -> Any:
        block = self.block
        if method == "eth_blockNumber":
            return block["number"]
        if method == "eth_chainId":
            return hex(CHAIN)
        if method in ("eth_getBlockByNumber", "eth_getBlockByHash"):
            if params[0] not in ("latest", "finalized", "safe", block["number"], block["hash"]):
                return None
            return block if params[1] else {**block, "transactions": list(self.txs)}
        if method == "eth_getBlockReceipts":
            return self.receipts
        if method == "eth_getTransactionByHash":
            return self.txs.get(params[0])
        if method == "eth_getTransactionReceipt":
            return self.by_tx.get(params[0])
        if method == "eth_getLogs":
            return [log for r in self.receipts for log in r["logs"]]
        raise KeyError(method)

    async def serve(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        await asyncio.sleep(self.delay)

        def one(call: dict[str, Any]) -> dict[str, Any]:
            try:
                result = self.answer(call["method"], call.get("params") or [])
            except KeyError:
                return {"jsonrpc": "2.0", "id": call["id"],
                        "error": {"code": -32601, "message": "method not found"}}
            return {"jsonrpc": "2.0", "id": call["id"], "result": clone(result)}

        out = [one(c) for c in body] if isinstance(body, list) else one(body)
        return web.Response(text=json.dumps(out), content_type="application/json")


@asynccontextmanager
async def _service(*chains: _Rollup, pools: list[UpstreamPool] | None = None
                   ) -> AsyncIterator[ValidationService]:
    async with AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(scripted_upstream(c.serve)) for c in chains]
        pool = UpstreamPool(upstream_config(make_settings(",".join(urls))))
        if pools is not None:
            pools.append(pool)
        await pool.start()
        try:
            yield ValidationService(pool, ChainView(pool, ChainViewConfig(finality_depth=64)),
                                    network_id=CHAIN)
        finally:
            await pool.close()


def _arbitrum_block(trust_chain: Chain) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The mixed block with its deposit replaced by an Arbitrum internal transaction
    (and its receipt): the header hash recomputed, the transactionsRoot whatever it is."""
    block, receipts = _mixed_block(trust_chain)
    internal = {**ARBITRUM_INTERNAL, "blockNumber": block["number"]}
    receipt = {**receipts[0], "type": "0x6a", "transactionHash": internal["hash"],
               "from": internal["from"], "to": internal["to"]}
    for key in ("depositNonce", "depositReceiptVersion"):
        receipt.pop(key)
    block["transactions"][0], receipts[0] = internal, receipt
    block["receiptsRoot"] = "0x" + reference_trie_root([b"\x6a"]).hex()
    block["hash"] = "0x" + header_hash(block).hex()
    for item in (*block["transactions"], *receipts):
        item["blockHash"] = block["hash"]
    return block, receipts


def _json(result: object) -> dict[str, Any]:
    """The result as the API encodes it."""
    out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(result))
    return out


async def _tx(trust_chain: Chain, build: Callable[[Chain], tuple[Any, Any]], index: int
              ) -> dict[str, Any]:
    block, receipts = build(trust_chain)
    async with _service(_Rollup(block, receipts)) as svc:
        return _json(await svc.validate_transaction(block["transactions"][index]["hash"]))


async def test_a_deposit_is_proven_and_anchored_without_a_signature(trust_chain: Chain) -> None:
    result = await _tx(trust_chain, _mixed_block, 0)
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "anchored" and v["anchor"] == "first-use"
    assert "deposit_no_signature" in v["checks"] and "tx_signature" not in v["checks"]
    assert {"tx_hash", "transactions_root", "receipts_root", "not_in_block",
            "receipt_mismatch", "parent_link"} <= set(v["checks"])
    assert "unproven" not in v
    assert result["data"]["status"] == "confirmed" and result["data"]["type"] == 0x7E


async def test_an_arbitrum_type_is_unverified_not_refused(trust_chain: Chain) -> None:
    result = await _tx(trust_chain, _arbitrum_block, 0)
    assert result["valid"] is None
    v = result["verification"]
    assert v["level"] == "unverified" and "checks" not in v and "failure" not in v
    assert "0x6a" in v["unproven"] and "Arbitrum" in v["unproven"]
    assert result["data"]["status"] == "confirmed" and result["data"]["blockNumber"] == 0x7FE52F


async def test_beside_an_arbitrum_type_a_signed_transaction_is_proven_not_its_inclusion(
        trust_chain: Chain) -> None:
    result = await _tx(trust_chain, _arbitrum_block, 1)
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "consistent"
    assert v["checks"] == ["tx_fields", "tx_hash", "tx_signature", "tx_chain_id"]
    assert v["unproven"].startswith("inclusion and receipt not proven") and "0x6a" in v["unproven"]
    assert result["data"]["status"] == "confirmed"


async def test_a_block_holding_an_arbitrum_type_has_its_header_proven(trust_chain: Chain) -> None:
    block, receipts = _arbitrum_block(trust_chain)
    async with _service(_Rollup(block, receipts)) as svc:
        result = _json(await svc.validate_block(int(block["number"], 16)))
    assert result["valid"] is True
    v = result["verification"]
    assert v["level"] == "anchored" and v["checks"] == ["header_hash", "parent_link"]
    assert v["unproven"].startswith("transactions, withdrawals and receipts not proven")


async def test_unverified_answers_are_not_cached(trust_chain: Chain) -> None:
    """transaction_entry: valid null is never kept (the next request asks again)."""
    from bizra_node.cache import TtlPolicy
    from bizra_node.validation.answer import transaction_entry
    from bizra_node.validation.types import TransactionResult

    block, receipts = _arbitrum_block(trust_chain)
    async with _service(_Rollup(block, receipts)) as svc:
        result = await svc.validate_transaction(block["transactions"][0]["hash"])
    assert isinstance(result, TransactionResult) and result.valid is None
    entry = transaction_entry(result, 0x7FE52F + 100, TtlPolicy())
    assert entry.expires == 0.0 and not entry.final


async def test_a_liar_retyping_a_deposit_cannot_downgrade_it(trust_chain: Chain) -> None:
    """Retyping one transaction would make any block unprovable: the node takes a block
    as such only when no upstream gives it in a form that proves. The liar is asked
    first (the honest upstream answers later); the honest block proves the deposit,
    and the liar's retyped transaction is a lie about a proven block."""
    block, receipts = _mixed_block(trust_chain)
    liar = _Rollup(block, receipts, retype=True)
    honest = _Rollup(block, receipts, delay=0.05)
    deposit = block["transactions"][0]["hash"]
    pools: list[UpstreamPool] = []
    async with _service(liar, honest, pools=pools) as svc:
        tx = _json(await svc.validate_transaction(deposit))
        lied = [h.breaker.state is State.OPEN for h in pools[0].health]
    assert lied == [True, False]  # the liar was asked, caught and taken out of rotation
    assert tx["valid"] is True and "unproven" not in tx["verification"]
    assert {"deposit_no_signature", "transactions_root", "not_in_block"} <= \
        set(tx["verification"]["checks"])


async def test_a_liar_retyping_a_block_cannot_downgrade_it(trust_chain: Chain) -> None:
    block, receipts = _mixed_block(trust_chain)
    liar = _Rollup(block, receipts, retype=True)
    honest = _Rollup(block, receipts, delay=0.05)
    pools: list[UpstreamPool] = []
    async with _service(liar, honest, pools=pools) as svc:
        by_number = _json(await svc.validate_block(int(block["number"], 16)))
        lied = [h.breaker.state is State.OPEN for h in pools[0].health]
    assert lied == [True, False]
    assert by_number["valid"] is True and "unproven" not in by_number["verification"]
    assert "transactions_root" in by_number["verification"]["checks"]
