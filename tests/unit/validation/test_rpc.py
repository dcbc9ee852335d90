"""RpcService on a rollup chain (the OP-stack-shaped chain of tests/support/rollup.py,
served by a small real JSON-RPC server): what /rpc says about answers holding a
transaction type the node cannot encode, in X-Verification, and the filters' logs."""

from __future__ import annotations

from typing import Any

import orjson

from bizra_node.jsonrpc import Call, RpcError
from bizra_node.validation import (
    FilterService,
    RpcProofs,
    RpcService,
)
from bizra_node.validation.logs import ProvenLogs
from bizra_node.validation.prover import Prover
from tests.support.rollup import CHAIN, Chain, Rollup, arbitrum_block, rollup_pool


async def _answer(chain: Rollup, calls: list[Call]) -> tuple[list[Any], list[str]]:
    async with rollup_pool(chain) as (pool, view):
        prover = Prover(pool, view)
        logs = ProvenLogs(pool, view, prover, max_range=1000)
        rpc = RpcService(pool, view, network_id=CHAIN, proofs=RpcProofs(prover, CHAIN),
                         logs=logs, filters=FilterService(pool, view, logs=logs))
        said: list[str] = []
        answers = await rpc.answer(calls, said)
        for i, call in enumerate(calls):  # a filter made by the batch: its logs
            if call.method == "eth_newFilter" and isinstance(answers[i], bytes):
                answers += await rpc.answer([Call("eth_getFilterLogs",
                                                  (orjson.loads(answers[i]),))])
    return [a if isinstance(a, RpcError) else orjson.loads(a) for a in answers], said


async def test_rpc_says_what_it_could_not_prove(anvil_chain: Chain) -> None:
    block, receipts = arbitrum_block(anvil_chain)
    internal, signed = (tx["hash"] for tx in block["transactions"])
    answers, said = await _answer(Rollup(block, receipts), [
        Call("eth_getTransactionByHash", (internal,)),
        Call("eth_getTransactionByHash", (signed,)),
        Call("eth_getBlockByNumber", (block["number"], False)),
        Call("eth_getLogs", ({"blockHash": block["hash"]},)),
    ])
    assert [a["hash"] for a in answers[:2]] == [internal, signed]
    assert answers[2]["hash"] == block["hash"] and answers[3] == []
    assert said[0] == "unverified; unproven=transaction type 0x6a (an Arbitrum type): the node " \
        "has no encoding for it"
    assert said[1].startswith("consistent; checks=tx_fields,tx_hash,tx_signature,tx_chain_id; "
                              "unproven=inclusion and receipt not proven")
    assert said[2].startswith("anchored; anchor=first-use") and \
        "checks=header_hash,parent_link; unproven=transactions, withdrawals" in said[2]
    assert said[3].startswith("unverified; unproven=logs not proven") and "0x6a" in said[3]


async def test_filters_over_such_a_block_give_the_upstreams_logs(anvil_chain: Chain) -> None:
    """eth_getFilterLogs made from proven receipts cannot rebuild the block: the
    upstream's eth_getLogs instead (filter answers say unverified), not an error."""
    block, receipts = arbitrum_block(anvil_chain)
    answers, _ = await _answer(Rollup(block, receipts), [
        Call("eth_newFilter", ({"fromBlock": block["number"], "toBlock": block["number"]},))])
    assert isinstance(answers[0], str) and answers[1] == []

