"""The JSON-RPC endpoint's policy, as pure functions of a call and its answer (the
service is rpc.py): which methods may pass, which answers may be cached and for how
long, how a read at ``latest`` is pinned to the head, and which blocks an answer shows
and depends on (see rpc.py for the rules these implement).
"""

from __future__ import annotations

from typing import Any

from ..cache import NEVER, Ttl, TtlPolicy
from ..jsonrpc import BLOCK_PARAM, Call

__all__ = ["CACHEABLE_METHODS", "FAST_METHODS", "NETWORK_METHODS", "SUBSCRIBE_METHODS",
           "cacheable", "depends_on", "method_allowed", "pinned", "rpc_ttl", "seen_block"]

_ALLOWED_PREFIXES = ("eth_", "net_", "web3_")
_FORBIDDEN = frozenset({
    "eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData",
    "eth_signTypedData_v3", "eth_signTypedData_v4", "eth_coinbase",
    "eth_submitWork", "eth_submitHashrate", "eth_newPendingTransactionFilter",
})
NETWORK_METHODS = frozenset({"eth_chainId", "net_version"})
_BY_TX_HASH = frozenset({"eth_getTransactionByHash", "eth_getTransactionReceipt"})
_STATE_AT_BLOCK = frozenset({
    "eth_getBalance", "eth_getCode", "eth_getTransactionCount", "eth_getStorageAt", "eth_call",
    "eth_getBlockByNumber", "eth_getBlockTransactionCountByNumber",
})
CACHEABLE_METHODS = _BY_TX_HASH | _STATE_AT_BLOCK | {"eth_getBlockByHash"}
SUBSCRIBE_METHODS = frozenset({"eth_subscribe", "eth_unsubscribe"})
FAST_METHODS = CACHEABLE_METHODS | NETWORK_METHODS | {"eth_blockNumber", "eth_accounts"}
"""The methods :meth:`RpcService.hit` may answer (all allowed)."""
_HEAD_TAGS = frozenset({"latest"})


def method_allowed(method: str) -> bool:
    return method.startswith(_ALLOWED_PREFIXES) and method not in _FORBIDDEN


def cacheable(method: str) -> bool:
    """Whether answers of ``method`` may ever be cached (the exact TTL needs the answer)."""
    return method in CACHEABLE_METHODS


def _block_param(params: list[Any] | tuple[Any, ...], index: int) -> int | str | None:
    """The block a call reads at: an int, 'latest', or None (not cacheable)."""
    value = params[index] if len(params) > index else "latest"
    if isinstance(value, str):
        if value in _HEAD_TAGS:
            return value
        if value.startswith("0x") and len(value) <= 18:
            try:
                return int(value, 16)
            except ValueError:
                return None
    return None  # pending / safe / finalized / EIP-1898 objects: not cached


def rpc_ttl(method: str, params: list[Any], result: Any, *, head: int, finalized: int,
            policy: TtlPolicy) -> Ttl:
    """How long an answer may be served from cache (NEVER: not at all)."""
    if result is None:
        return NEVER
    if method == "eth_getBlockByHash":
        return policy.lasting()
    if method in _BY_TX_HASH:
        number = result.get("blockNumber") if isinstance(result, dict) else None
        if not isinstance(number, str):
            return NEVER  # pending
        return policy.lasting() if int(number, 16) <= finalized else Ttl(policy.recent)
    if method not in _STATE_AT_BLOCK:
        return NEVER
    block = _block_param(params, BLOCK_PARAM[method])
    if block is None:
        return NEVER
    if block == "latest":
        return Ttl(policy.head, moving=True)
    assert isinstance(block, int)
    if block <= finalized:
        return policy.lasting()
    return Ttl(policy.recent) if block <= head else NEVER


def pinned(call: Call, head: int) -> Call | None:
    """``call`` asked at block ``head`` instead of 'latest' (also when the block
    parameter is left out of a call that defaults to 'latest'); None when it names
    no 'latest'."""
    params = call.params
    if call.method == "eth_getLogs":
        if not params or not isinstance(params[0], dict) or "blockHash" in params[0]:
            return None
        criteria = dict(params[0])
        changed = False
        for key in ("fromBlock", "toBlock"):
            if criteria.get(key, "latest") == "latest":
                criteria[key] = hex(head)
                changed = True
        return Call(call.method, (criteria, *params[1:])) if changed else None
    index = BLOCK_PARAM.get(call.method)
    if index is None:
        return None
    if len(params) > index:
        if params[index] != "latest":
            return None
        return Call(call.method, (*params[:index], hex(head), *params[index + 1:]))
    if call.method in _STATE_AT_BLOCK and len(params) == index:
        return Call(call.method, (*params, hex(head)))
    return None


def seen_block(result: Any) -> int:
    """The highest block number an answer shows (a transaction's or receipt's
    blockNumber, a block's number, logs' blockNumbers), -1 when none."""
    best = -1
    items = result if isinstance(result, list) else (result,)
    for item in items:
        if not isinstance(item, dict):
            continue
        raw = item.get("blockNumber")
        if raw is None and "parentHash" in item:  # a block
            raw = item.get("number")
        if isinstance(raw, str) and raw.startswith("0x") and len(raw) <= 18:
            try:
                number = int(raw, 16)
            except ValueError:
                continue
            if number > best:
                best = number
    return best


def depends_on(call: Call, result: Any, head: int, moving: bool) -> int:
    """The highest block an answer depends on (a reorg at or below it drops the entry):
    the blocks the answer shows, the block it was read at, the head for 'latest'."""
    block = seen_block(result)
    index = BLOCK_PARAM.get(call.method)
    if index is not None:
        at = _block_param(call.params, index)
        if isinstance(at, int) and at > block:
            block = at
    return max(block, head) if moving else block
