"""Method classification: idempotency, head reads, metric labels."""

from __future__ import annotations

from bizra_node.chain.methods import idempotent, method_label, reads_head, unhealthy_rpc_error
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
