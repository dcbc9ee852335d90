"""JSON-RPC values: what a retry can fix, and the endpoint's limits."""

from __future__ import annotations

import pytest

from bizra_node.jsonrpc import RpcError, RpcLimits


@pytest.mark.parametrize(("error", "transient"), [
    (RpcError(-32603, "internal error"), True),
    (RpcError(-32005, "limit exceeded"), True),
    (RpcError(-32002, "resource unavailable"), True),
    (RpcError(429, "Too Many Requests"), True),
    (RpcError(-32000, "request timed out"), True),
    (RpcError(-32000, "server is busy"), True),
    (RpcError(-32000, "filter not found"), False),
    (RpcError(-32000, "nonce too low"), False),
    (RpcError(-32000, "insufficient funds for gas * price + value"), False),
    (RpcError(-32000, "header not found"), False),  # lagging, decided with the block
    (RpcError(-32602, "invalid params"), False),
    (RpcError(-32601, "method not found"), False),
    (RpcError(3, "execution reverted"), False),
])
def test_transient(error: RpcError, transient: bool) -> None:
    assert error.transient is transient


@pytest.mark.parametrize(("message", "lagging"), [
    ("header not found", True), ("unknown block", True), ("missing trie node abc", True),
    ("BlockOutOfRangeError: block height is 4 but requested was 5", True),
    ("block range extends beyond current head block", True),
    ("filter not found", False), ("execution reverted", False),
])
def test_lagging(message: str, lagging: bool) -> None:
    assert RpcError(-32000, message).lagging is lagging


def test_limits_are_checked() -> None:
    assert RpcLimits().max_batch == 1000 and RpcLimits().max_body == 5 * 1024 * 1024
    with pytest.raises(ValueError, match="max_batch"):
        RpcLimits(max_batch=0)
