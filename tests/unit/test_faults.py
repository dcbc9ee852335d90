"""Whose fault an upstream's JSON-RPC error is, in each client's own words.

The messages are the clients' real wording: geth (core/error.go, core/vm/errors.go,
internal/ethapi), Erigon (the same vm errors, its txpool's discard reasons), Nethermind
(ErrorCodes.cs, AcceptTxResult), Besu (RpcErrorType.java) and anvil 1.7.1 (asked
directly, tests/integration/api/test_caller_errors.py asks it again).
"""

from __future__ import annotations

import pytest

from bizra_node.chain.methods import retryable, unhealthy_rpc_error
from bizra_node.faults import Fault, classify
from bizra_node.jsonrpc import Call, RpcError

C, U, M = Fault.CALLER, Fault.UPSTREAM, Fault.MISSING

GETH = [
    (3, "execution reverted: Ownable: caller is not the owner", C),
    (-32000, "execution reverted", C),
    (-32000, "out of gas", C),
    (-32000, "gas required exceeds allowance (30000000)", C),
    (-32000, "invalid opcode: INVALID", C),
    (-32000, "invalid opcode: opcode 0xfe not defined", C),
    (-32000, "invalid jump destination", C),
    (-32000, "stack underflow (0 <=> 2)", C),
    (-32000, "write protection", C),
    (-32000, "nonce too low: address 0x71C7656EC7ab88b098defB751B7401B5f6d8976F, tx: 0 state: 5",
     C),
    (-32000, "nonce too high: address 0x71C7656EC7ab88b098defB751B7401B5f6d8976F, tx: 9 state: 5",
     C),
    (-32000, "insufficient funds for gas * price + value: address "
             "0x71C7656EC7ab88b098defB751B7401B5f6d8976F have 0 want 21000000000000", C),
    (-32000, "replacement transaction underpriced", C),
    (-32000, "already known", C),
    (-32000, "intrinsic gas too low: have 0, want 21000", C),
    (-32000, "max fee per gas less than block base fee: address "
             "0x71C7656EC7ab88b098defB751B7401B5f6d8976F, maxFeePerGas: 1, baseFee: 7", C),
    (-32000, "transaction underpriced: tip needed 1, tip permitted 0", C),
    (-32000, "invalid sender", C),
    (-32602, "invalid argument 0: json: cannot unmarshal hex string without 0x prefix into "
             "Go struct field TransactionArgs.to of type common.Address", C),
    (-32602, "missing value for required argument 0", C),
    (-32601, "the method eth_foo does not exist/is not available", C),
    (-32000, "filter not found", C),
    (-32000, "header not found", M),
    (-32000, "missing trie node 3e1b0e4f7c5a (path ) state 0x3e1b0e4f7c5a is not available", M),
    (-32000, "historical state 1f2e3d4c5b6a is not available", M),
    (-32000, "execution aborted (timeout = 5s)", U),
    (-32002, "request timed out", U),
    (-32005, "limit exceeded", U),
    (-32000, "txpool is full", U),
    (-32603, "internal error", U),
]

ERIGON = [
    (3, "execution reverted", C),
    (-32000, "out of gas", C),
    (-32000, "invalid opcode: INVALID", C),
    (-32000, "gas required exceeds allowance (21000)", C),
    (-32000, "nonce too low", C),
    (-32000, "insufficient funds", C),
    (-32000, "replacement transaction underpriced", C),
    (-32000, "already known", C),
    (-32000, "intrinsic gas too low", C),
    (-32000, "fee too low", C),
    (-32000, "oversized data", C),
    (-32000, "max fee per gas less than block base fee: address "
             "0x71C7656EC7ab88b098defB751B7401B5f6d8976F, maxFeePerGas: 1 baseFee: 7", C),
    (-32000, "old data not available due to pruning", M),
    (-32000, "header not found", M),
    (-32000, "pending sub-pool is full", U),
    (-32000, "request timed out", U),
]

NETHERMIND = [
    (3, "execution reverted: custom message", C),
    (-32015, "VM execution error.", C),
    (-32010, "OldNonce", C),
    (-32010, "InsufficientFunds, Balance is 0 less than sending value + gas 21000", C),
    (-32010, "AlreadyKnown", C),
    (-32010, "FeeTooLow, MaxFeePerGas too low. MaxFeePerGas: 1, BaseFee: 7", C),
    (-32602, "Invalid params", C),
    (-32000, "out of gas", C),
    (-39001, "Unknown block error", M),
    (4444, "Pruned history unavailable", M),
    (-32002, "No state available for block 0x1f2e3d4c5b6a", M),
    (-32016, "eth_call request was canceled due to enabled timeout.", U),
    (-32005, "Too many requests", U),
    (-32603, "Internal error", U),
]

BESU = [
    (-32000, "Execution reverted", C),
    (3, "Execution reverted: reason", C),
    (-32001, "Nonce too low", C),
    (-32004, "Upfront cost exceeds account balance", C),
    (-32003, "Intrinsic gas exceeds gas limit", C),
    (-32000, "Transaction gas limit exceeds block gas limit", C),
    (-32000, "Known transaction", C),
    (-32000, "Replacement transaction underpriced", C),
    (-32009, "Gas price below configured minimum gas price", C),
    (-32602, "Invalid params", C),
    (-39001, "Block not found", M),
    (-32000, "World state unavailable", M),
    (-32603, "Internal error", U),
    (-32603, "Timeout expired", U),
]

ANVIL = [  # anvil 1.7.1, asked directly
    (-32603, "EVM error OutOfGas", C),
    (-32603, "EVM error InvalidFEOpcode", C),
    (-32003, "Out of gas: gas required exceeds allowance: 30000000", C),
    (3, "execution reverted", C),
    (-32000, "intrinsic gas too high -- CallGasCostMoreThanGasLimit", C),
    (-32000, "intrinsic gas too low", C),
    (-32003, "nonce too low", C),
    (-32003, "Insufficient funds for gas * price + value", C),
    (-32602, "Failed to decode transaction", C),
    (-32602, "hex string without 0x prefix", C),
    (-32602, "invalid string length", C),
    (-32601, "Method not found", C),
    (-32602, "BlockOutOfRangeError: block height is 1 but requested was 629145", M),
]

PROVIDERS = [  # hosted gateways in front of any client
    (429, "Too Many Requests", U),
    (-32005, "daily request count exceeded, request rate limited", U),
    (-32000, "server is busy, try again later", U),
    (-32603, "upstream connect error or disconnect/reset before headers", U),
]

CASES = ([("geth", *c) for c in GETH] + [("erigon", *c) for c in ERIGON]
         + [("nethermind", *c) for c in NETHERMIND] + [("besu", *c) for c in BESU]
         + [("anvil", *c) for c in ANVIL] + [("provider", *c) for c in PROVIDERS])


@pytest.mark.parametrize(("client", "code", "message", "fault"), CASES,
                         ids=[f"{c[0]}:{c[1]}:{c[2][:40]}" for c in CASES])
def test_each_clients_wording(client: str, code: int, message: str, fault: Fault) -> None:
    assert classify(code, message) is fault
    error = RpcError(code, message)
    assert error.fault is fault
    # Only the upstream's own trouble opens its breaker.
    assert unhealthy_rpc_error(error) is (fault is Fault.UPSTREAM)


@pytest.mark.parametrize("code", [3, -32000, -32603])
def test_a_revert_reason_is_the_callers_whatever_it_says(code: int) -> None:
    """The reason is the contract's text: a contract must not be able to open a
    breaker by reverting with 'rate limited, try again'."""
    for reason in ("rate limited, try again", "timeout", "header not found",
                   "upstream overloaded"):
        assert classify(code, f"execution reverted: {reason}") is Fault.CALLER


def test_an_unknown_wording_is_the_callers_unless_its_code_says_otherwise() -> None:
    assert classify(-32000, "something nobody has said before") is Fault.CALLER
    assert classify(-32601, "no") is Fault.CALLER
    assert classify(-32603, "something nobody has said before") is Fault.UPSTREAM


@pytest.mark.parametrize(("error", "again"), [
    (RpcError(-32603, "EVM error OutOfGas"), False),
    (RpcError(-32603, "EVM error InvalidFEOpcode"), False),
    (RpcError(3, "execution reverted", "0x08c379a0"), False),
    (RpcError(-32000, "nonce too low"), False),
    (RpcError(-32603, "internal error"), True),
    (RpcError(429, "Too Many Requests"), True),
    (RpcError(-32000, "missing trie node 3e1b (path )"), True),  # block 0x10 <= best head
])
def test_only_the_upstreams_faults_are_asked_again(error: RpcError, again: bool) -> None:
    call = Call("eth_call", ({"to": "0x" + "11" * 20}, "0x10"))
    assert retryable(call, error, best_head=0x20) is again
