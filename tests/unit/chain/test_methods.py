"""Method classification: idempotency, head reads, metric labels."""

from __future__ import annotations

import pytest

from bizra_node.chain.methods import (
    idempotent,
    method_label,
    named_block,
    reads_head,
    retryable,
    unhealthy_rpc_error,
)
from bizra_node.jsonrpc import Call, RpcError


def test_calls_with_effects_are_not_idempotent() -> None:
    assert idempotent([Call("eth_getBalance", ("0x1", "latest"))])
    assert not idempotent([Call("eth_blockNumber"), Call("eth_sendRawTransaction", ("0x",))])
    assert not idempotent([Call("eth_sendTransaction", ({},))])


def test_head_reads() -> None:
    assert reads_head([Call("eth_blockNumber")])
    assert reads_head([Call("eth_getBalance", ("0xab", "latest"))])
    assert reads_head([Call("eth_getBlockByNumber", ("finalized", False))])
    assert reads_head([Call("eth_getLogs", ({"fromBlock": "0x1", "toBlock": "latest"},))])
    assert not reads_head([Call("eth_getTransactionByHash", ("0xab",))])
    assert not reads_head([Call("eth_getBlockByNumber", ("0x10", False))])
    assert not reads_head([Call("eth_getLogs", ({"address": "latest"},))])


def test_metric_labels_are_bounded() -> None:
    assert method_label("eth_getBalance") == "eth_getBalance"
    assert method_label("eth_sendRawTransaction") == "eth_sendRawTransaction"
    assert method_label("anything_a_client_sends_" + "x" * 50) == "other"


def test_unhealthy_errors_are_about_the_upstream() -> None:
    assert unhealthy_rpc_error(RpcError(-32603, "internal"))
    assert unhealthy_rpc_error(RpcError(-32005, "limit exceeded"))
    assert not unhealthy_rpc_error(RpcError(-32602, "invalid params"))
    assert not unhealthy_rpc_error(RpcError(3, "execution reverted"))
    assert not unhealthy_rpc_error("0x1")


@pytest.mark.parametrize(("call", "block"), [
    (Call("eth_getBalance", ("0xab", "0x10")), 16),
    (Call("eth_getBalance", ("0xab", "latest")), "latest"),
    (Call("eth_getBalance", ("0xab",)), None),
    (Call("eth_call", ({}, {"blockNumber": "0x5"})), 5),
    (Call("eth_call", ({}, {"blockHash": "0xab"})), None),
    (Call("eth_getBlockByNumber", ("0x2", False)), 2),
    (Call("eth_getLogs", ({"fromBlock": "0x1", "toBlock": "0x9"},)), 9),
    (Call("eth_getLogs", ({"fromBlock": "0x1"},)), "latest"),
    (Call("eth_getLogs", ({"blockHash": "0xab"},)), None),
    (Call("eth_getTransactionByHash", ("0xab",)), None),
    (Call("eth_getBalance", ("0xab", "0xzz")), None),
])
def test_named_block(call: Call, block: int | str | None) -> None:
    assert named_block(call) == block


@pytest.mark.parametrize(("call", "error", "retry"), [
    (Call("eth_chainId"), RpcError(-32603, "internal error"), True),
    (Call("eth_chainId"), RpcError(429, "too many"), True),
    (Call("eth_chainId"), RpcError(-32000, "rate limit reached, try again"), True),
    (Call("eth_getFilterChanges", ("0x1",)), RpcError(-32000, "filter not found"), False),
    (Call("eth_call", ({}, "0x5")), RpcError(3, "execution reverted"), False),
    (Call("eth_call", ({}, "0x5")), RpcError(-32000, "execution reverted"), False),
    (Call("eth_getBalance", ("0xab", "0x5")), RpcError(-32602, "invalid address"), False),
    # a block the node has seen, that this upstream has not: its lag
    (Call("eth_getBalance", ("0xab", "0x5")), RpcError(-32000, "header not found"), True),
    (Call("eth_getBalance", ("0xab", "0x5")),
     RpcError(-32602, "BlockOutOfRangeError: block height is 4 but requested was 5"), True),
    (Call("eth_getBalance", ("0xab", "latest")), RpcError(-32000, "unknown block"), True),
    # above every head known: the caller's mistake
    (Call("eth_getBalance", ("0xab", "0x50")), RpcError(-32000, "header not found"), False),
    (Call("eth_call", ({}, {"blockHash": "0xab"})), RpcError(-32000, "header not found"), False),
])
def test_retryable(call: Call, error: RpcError, retry: bool) -> None:
    assert retryable(call, error, best_head=0x10) is retry
