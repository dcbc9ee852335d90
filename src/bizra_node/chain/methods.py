"""What the pool needs to know about JSON-RPC methods: may a call be re-sent, does it
read the chain head, is an error worth another try, and a bounded label for metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..faults import Fault
from ..jsonrpc import BLOCK_PARAM, Call, RpcError, hex_number

__all__ = [
    "HEAD_TAGS",
    "LOOKUPS",
    "NON_IDEMPOTENT",
    "found_block",
    "idempotent",
    "method_label",
    "named_block",
    "reads_head",
    "retryable",
    "unhealthy_rpc_error",
]

NON_IDEMPOTENT = frozenset({
    "eth_sendRawTransaction", "eth_sendTransaction", "eth_sendRawTransactionConditional",
    "eth_sendBundle", "eth_submitWork", "eth_submitHashrate", "personal_sendTransaction",
})
"""Calls with effects: re-sending one whose first copy may have arrived can, e.g.,
broadcast a transaction twice. They are re-sent only when the request provably never
reached the upstream (connection refused) or was refused unprocessed (HTTP 429), and
are never hedged."""

HEAD_TAGS = frozenset({"latest", "pending", "safe", "finalized"})
"""Block tags whose answer depends on how far the upstream has synced."""

LOOKUPS = frozenset({
    "eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getBlockByHash",
    "eth_getBlockByNumber", "eth_getBlockReceipts", "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionByBlockNumberAndIndex",
})
"""Calls whose ``null`` says "no such thing": one upstream's null is asked of one more
(an upstream that omits what exists must not make it "not found")."""


def found_block(answer: object) -> int | None:
    """The block number a found answer names (a transaction's or receipt's blockNumber,
    a block's number, the first receipt's of a list); None when it names none (a
    pending transaction, null)."""
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    if not isinstance(answer, dict):
        return None
    value = answer.get("blockNumber", answer.get("number"))
    return hex_number(value) if isinstance(value, str) else None


_KNOWN = frozenset({
    "eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_maxPriorityFeePerGas",
    "eth_feeHistory", "eth_getBalance", "eth_getCode", "eth_getStorageAt",
    "eth_getTransactionCount", "eth_getTransactionByHash", "eth_getTransactionReceipt",
    "eth_getBlockByHash", "eth_getBlockByNumber", "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByHash", "eth_getBlockTransactionCountByNumber",
    "eth_getTransactionByBlockHashAndIndex", "eth_getTransactionByBlockNumberAndIndex",
    "eth_getLogs", "eth_call", "eth_estimateGas", "eth_getProof", "eth_syncing",
    "eth_accounts", "net_version", "net_listening", "net_peerCount", "web3_clientVersion",
    "eth_getUncleCountByBlockHash", "eth_getUncleCountByBlockNumber", "eth_createAccessList",
    "debug_traceTransaction", "debug_traceCall", "trace_transaction", "trace_block",
}) | NON_IDEMPOTENT


def method_label(method: str) -> str:
    """The method as a metric label: known names as they are, anything else 'other'
    (clients of the JSON-RPC endpoint may send any string)."""
    return method if method in _KNOWN else "other"


def idempotent(calls: Sequence[Call]) -> bool:
    """True when every call may safely be sent twice (re-sent or hedged)."""
    return not any(c.method in NON_IDEMPOTENT for c in calls)


def _is_head_param(value: Any) -> bool:
    if isinstance(value, str):
        return value in HEAD_TAGS
    if isinstance(value, dict):  # eth_getLogs filter, eth_call block override objects
        return any(isinstance(v, str) and v in HEAD_TAGS
                   for k, v in value.items() if k in ("fromBlock", "toBlock", "blockTag"))
    return False


def reads_head(calls: Sequence[Call]) -> bool:
    """True when the answer depends on the upstream's head: eth_blockNumber, or a
    block tag like 'latest'. Such reads skip upstreams that lag the others."""
    for c in calls:
        if c.method == "eth_blockNumber" or c.method == "eth_gasPrice":
            return True
        for p in c.params:
            if _is_head_param(p):
                return True
    return False


def unhealthy_rpc_error(value: Any) -> bool:
    """An answer that says the upstream itself is in trouble (internal error, over
    its limits, timed out), as opposed to an error about the call (revert, out of gas,
    bad params) or a block it does not have: faults.py's table decides. Only these
    count against the upstream's breaker."""
    return type(value) is RpcError and value.fault is Fault.UPSTREAM


def named_block(call: Call) -> int | str | None:
    """The block ``call`` reads at: a number, a tag ('latest', ...), or None (by hash,
    or no block parameter). eth_getLogs: its highest block number or tag."""
    params = call.params
    if call.method == "eth_getLogs":
        if not params or not isinstance(params[0], dict):
            return None
        if "blockHash" in params[0]:
            return None
        value = params[0].get("toBlock", "latest")
    else:
        index = BLOCK_PARAM.get(call.method)
        if index is None or len(params) <= index:
            return None
        value = params[index]
        if isinstance(value, dict):  # EIP-1898 {"blockNumber": ...} or {"blockHash": ...}
            value = value.get("blockNumber")
    number = hex_number(value)
    if number is not None:
        return number
    return value if isinstance(value, str) and value in HEAD_TAGS else None


def retryable(call: Call, error: RpcError, best_head: int) -> bool:
    """May asking again (later, or another upstream) give ``call`` an answer?

    The upstream's own trouble (``Fault.UPSTREAM``) may pass; the caller's never.
    "Header not found" and the like (``Fault.MISSING``) are retried when the block is
    one some upstream has shown (at or below ``best_head``, the highest head known) or a tag: the node that
    answered lags. A block above every known head, or one named by a hash, is the
    caller's to fix and is answered at once."""
    fault = error.fault
    if fault is Fault.UPSTREAM:
        return True
    if fault is not Fault.MISSING:
        return False
    block = named_block(call)
    if isinstance(block, int):
        return block <= best_head
    return isinstance(block, str)
