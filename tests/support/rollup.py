"""An OP-stack-shaped chain for the rollup tests, from tests/fixtures/opstack (real
OP-stack answers, their sources in its README) and the recorded anvil chain: the
fixtures, the blocks the tests build from them (said so where they are built), and a
JSON-RPC server's answers for one such block."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import rlp
from aiohttp import web
from eth_hash.auto import keccak

from bizra_node.app import upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.validation import ChainView, ChainViewConfig
from bizra_node.validation.trust import (
    decode_transaction,
    encode_receipt,
    header_hash,
    reference_trie_root,
    verify_transaction,
)
from tests.conftest import make_settings
from tests.support.recorded_chain import RecordedChain, Recorder
from tests.support.servers import scripted_upstream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "opstack" / "deposits.json"
DOC: dict[str, Any] = json.loads(FIXTURES.read_text())
DEPOSITS: list[dict[str, Any]] = [d["transaction"] for d in DOC["deposits"]]
OP_MAINNET = 10
CHAIN = 31337
"""The recorded anvil chain's id (its signed transaction in the mixed block)."""

Chain = RecordedChain | Recorder


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)


def mixed_block(chain: Chain, *, creation: bool = False, withdrawals_root: str | None = None
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A block built for the tests (no real one was found with its receipts): the real
    Bedrock header of the fixtures, its real deposit (with the Canyon receipt of the fixtures)
    and a real signed transaction of the recorded anvil chain with its receipt; the
    roots computed by the reference trie library, the header hash recomputed.
    ``creation``: the deposit made into a contract creation (its hash recomputed);
    ``withdrawals_root``: an Isthmus header's (the message passer's storage root), with
    no withdrawals."""
    block = clone(DOC["block"]["block"])
    bundle = chain.bundle(chain.manifest.txs["dynamic_fee"])
    deposit, signed = block["transactions"][0], clone(bundle.tx)
    created = None
    if creation:
        deposit["to"] = None
        deposit["hash"] = "0x" + decode_transaction(deposit).hash.hex()
        sender = bytes.fromhex(deposit["from"][2:])
        created = "0x" + keccak(rlp.encode([sender, 4012991]))[12:].hex()
    deposit_receipt = {**DOC["depositReceipts"][0]["receipt"],
                       "transactionHash": deposit["hash"], "transactionIndex": "0x0",
                       "from": deposit["from"], "to": deposit["to"], "contractAddress": created,
                       "gasUsed": hex(46913), "effectiveGasPrice": "0x0"}
    signed_receipt = clone(bundle.receipt)
    signed_receipt["cumulativeGasUsed"] = hex(46913 + int(signed_receipt["gasUsed"], 16))
    signed_receipt["transactionIndex"] = signed["transactionIndex"] = "0x1"
    paid = decode_transaction(signed).effective_gas_price(int(block["baseFeePerGas"], 16))
    signed["gasPrice"] = signed_receipt["effectiveGasPrice"] = hex(paid)  # this block's fee
    txs, receipts = [deposit, signed], [deposit_receipt, signed_receipt]
    block["transactions"] = txs
    block["transactionsRoot"] = "0x" + reference_trie_root(
        [bytes.fromhex(rlp_hex) for rlp_hex in (leaf(deposit), leaf(signed))]).hex()
    block["receiptsRoot"] = "0x" + reference_trie_root(
        [encode_receipt(r) for r in receipts]).hex()
    if withdrawals_root is not None:
        block["withdrawalsRoot"], block["withdrawals"] = withdrawals_root, []
    block["hash"] = "0x" + header_hash(block).hex()
    for item in (*txs, *receipts):
        item["blockHash"], item["blockNumber"] = block["hash"], block["number"]
        item.pop("blockTimestamp", None)
    return block, receipts


def leaf(tx: dict[str, Any]) -> str:
    """The trie leaf: the typed envelope, whose keccak is the known hash."""
    encoding = decode_transaction(tx).encoding
    assert verify_transaction(tx, OP_MAINNET if encoding[0] == 0x7E else CHAIN).hash.hex() \
        == tx["hash"][2:]
    return encoding.hex()


ARBITRUM_INTERNAL = {
    "type": "0x6a", "hash": "0x" + "6a" * 32, "from": "0x00000000000000000000000000000000000a4b05",
    "to": "0x00000000000000000000000000000000000a4b05", "gas": "0x0", "gasPrice": "0x0",
    "input": "0x6bf6a42d", "nonce": "0x0", "value": "0x0", "chainId": "0x7a69",
    "v": "0x0", "r": "0x0", "s": "0x0", "transactionIndex": "0x0"}
"""Arbitrum's per-block internal transaction, in the shape Nitro serves it (constructed
for the test: no hash can be checked without Nitro's encoding)."""



def arbitrum_block(chain: Chain) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The mixed block with its deposit replaced by an Arbitrum internal transaction
    (and its receipt): the header hash recomputed, the transactionsRoot whatever it is."""
    block, receipts = mixed_block(chain)
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


class Rollup:
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
async def rollup_pool(*chains: Rollup) -> AsyncIterator[tuple[UpstreamPool, ChainView]]:
    """An upstream pool over a server for each of ``chains`` (in that order), started,
    and a chain view on it."""
    async with AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(scripted_upstream(c.serve)) for c in chains]
        pool = UpstreamPool(upstream_config(make_settings(",".join(urls))))
        await pool.start()
        try:
            yield pool, ChainView(pool, ChainViewConfig(finality_depth=64))
        finally:
            await pool.close()
