"""RpcService on a rollup chain (the OP-stack-shaped chain of test_service.py, served by
a small real JSON-RPC server): what /rpc says about answers holding a transaction type
the node cannot encode, in X-Verification."""

from __future__ import annotations

from typing import Any

import orjson

from bizra_node.app import upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.jsonrpc import Call, RpcError
from bizra_node.validation import ChainView, ChainViewConfig, RpcProofs, RpcService
from bizra_node.validation.logs import ProvenLogs
from bizra_node.validation.prover import Prover
from tests.conftest import make_settings
from tests.support.rollup import CHAIN, Chain, Rollup, arbitrum_block
from tests.support.servers import scripted_upstream


async def _answer(chain: Rollup, calls: list[Call]) -> tuple[list[Any], list[str]]:
    async with scripted_upstream(chain.serve) as url:
        pool = UpstreamPool(upstream_config(make_settings(url)))
        await pool.start()
        try:
            view = ChainView(pool, ChainViewConfig(finality_depth=64))
            prover = Prover(pool, view)
            rpc = RpcService(pool, view, network_id=CHAIN, proofs=RpcProofs(prover, CHAIN),
                             logs=ProvenLogs(pool, view, prover, max_range=1000))
            said: list[str] = []
            answers = await rpc.answer(calls, said)
        finally:
            await pool.close()
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
