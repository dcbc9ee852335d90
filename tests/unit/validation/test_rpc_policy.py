"""Which JSON-RPC answers may be cached, and for how long."""

from __future__ import annotations

from typing import Any

import pytest

from bizra_node.cache import NEVER, Ttl, TtlPolicy
from bizra_node.jsonrpc import Call
from bizra_node.validation.rpc_policy import method_allowed, pinned, rpc_ttl, seen_block

P = TtlPolicy(final=1000, recent=3, pending=2, address=60, head=2, not_found=60)


def ttl(method: str, params: list[Any], result: Any) -> Ttl:
    return rpc_ttl(method, params, result, head=100, finalized=90, policy=P)


@pytest.mark.parametrize(("method", "params", "result", "expected"), [
    ("eth_getBlockByHash", ["0xab", False], {"number": "0x1"}, Ttl(1000, final=True)),
    ("eth_getBlockByHash", ["0xab", False], None, NEVER),
    ("eth_blockNumber", [], "0x64", NEVER),  # the chain view answers it
    ("eth_getTransactionByHash", ["0x1"], {"blockNumber": "0x5a"}, Ttl(1000, final=True)),
    ("eth_getTransactionReceipt", ["0x1"], {"blockNumber": "0x5b"}, Ttl(3)),
    ("eth_getTransactionByHash", ["0x1"], {"blockNumber": None}, NEVER),
    ("eth_getTransactionByHash", ["0x1"], None, NEVER),
    ("eth_getBlockByNumber", ["0x5a", False], {"number": "0x5a"}, Ttl(1000, final=True)),
    ("eth_getBlockByNumber", ["0x5b", False], {"number": "0x5b"}, Ttl(3)),
    ("eth_getBlockByNumber", ["latest", False], {"number": "0x64"}, Ttl(2, moving=True)),
    ("eth_getBlockByNumber", ["pending", False], {"number": "0x65"}, NEVER),
    ("eth_getBlockByNumber", ["finalized", False], {"number": "0x5a"}, NEVER),
    ("eth_getBalance", ["0xaa", "0x10"], "0x1", Ttl(1000, final=True)),
    ("eth_getBalance", ["0xaa"], "0x1", Ttl(2, moving=True)),
    ("eth_call", [{"to": "0xaa"}, "0x5f"], "0x", Ttl(3)),
    ("eth_call", [{"to": "0xaa"}, {"blockHash": "0x1"}], "0x", NEVER),
    ("eth_getStorageAt", ["0xaa", "0x0", "0x200"], "0x0", NEVER),  # beyond the head
    ("eth_gasPrice", [], "0x1", NEVER),
    ("eth_getLogs", [{}], [], NEVER),
])
def test_ttl(method: str, params: list[Any], result: Any, expected: Ttl) -> None:
    assert ttl(method, params, result) == expected


@pytest.mark.parametrize(("method", "allowed"), [
    ("eth_call", True), ("net_version", True), ("web3_clientVersion", True),
    ("eth_sendRawTransaction", True), ("eth_sendTransaction", False), ("eth_sign", False),
    ("anvil_mine", False), ("debug_traceCall", False), ("admin_peers", False),
    ("personal_unlockAccount", False), ("eth_accounts", True), ("eth_subscribe", True),
    ("eth_newPendingTransactionFilter", False),
])
def test_allowed_methods(method: str, allowed: bool) -> None:
    assert method_allowed(method) is allowed


@pytest.mark.parametrize(("call", "asked"), [
    (Call("eth_getBalance", ("0xaa", "latest")), Call("eth_getBalance", ("0xaa", "0x2a"))),
    (Call("eth_getBalance", ("0xaa",)), Call("eth_getBalance", ("0xaa", "0x2a"))),
    (Call("eth_getBalance", ("0xaa", "pending")), None),
    (Call("eth_getBalance", ("0xaa", "0x1")), None),
    (Call("eth_call", ({"to": "0xaa"},)), Call("eth_call", ({"to": "0xaa"}, "0x2a"))),
    (Call("eth_estimateGas", ({"to": "0xaa"},)), None),  # its default is the node's choice
    (Call("eth_getBlockByNumber", ("latest", True)), Call("eth_getBlockByNumber", ("0x2a", True))),
    (Call("eth_getLogs", ({"address": "0xaa"},)),
     Call("eth_getLogs", ({"address": "0xaa", "fromBlock": "0x2a", "toBlock": "0x2a"},))),
    (Call("eth_getLogs", ({"fromBlock": "0x1"},)),
     Call("eth_getLogs", ({"fromBlock": "0x1", "toBlock": "0x2a"},))),
    (Call("eth_getLogs", ({"blockHash": "0xab"},)), None),
    (Call("eth_chainId"), None),
])
def test_latest_is_pinned_to_the_head(call: Call, asked: Call | None) -> None:
    assert pinned(call, 0x2a) == asked


@pytest.mark.parametrize(("result", "seen"), [
    ({"blockNumber": "0x2a", "hash": "0x1"}, 42),  # a transaction or receipt
    ({"blockNumber": None}, -1),  # pending
    ({"number": "0x2b", "parentHash": "0x0", "transactions": []}, 43),  # a block
    ([{"blockNumber": "0x2"}, {"blockNumber": "0x7"}, "junk"], 7),  # logs
    ("0x2a", -1), (None, -1), ({"blockNumber": "0x" + "f" * 40}, -1),
])
def test_block_numbers_seen_in_answers(result: Any, seen: int) -> None:
    assert seen_block(result) == seen
