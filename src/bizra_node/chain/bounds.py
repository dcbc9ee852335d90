"""Numbers in upstream answers, range-checked where they enter the node.

An upstream may answer a well-formed but absurd number: ``eth_blockNumber`` as a
1 600-bit quantity made the metrics exporter raise ``OverflowError`` (a float cannot
hold it) at start, and a running node served it as its own head. Every answer the
pool receives passes :func:`check_answer` before anything reads it: block numbers,
indexes, nonces, gas, timestamps and chain ids must be below 2**64, balances, prices
and signature values below 2**256 (EVM words). A quantity is 0x-hex of at most 16 (64
bits) or 64 (256 bits) digits; a JSON integer within range is taken too (anvil's
receipts carry ``blockTimestamp`` as one). A number that is out of range or not a
quantity raises :class:`~bizra_node.errors.IntegrityFailure` with check
:data:`BOUNDS`: the pool counts it against the upstream
(``upstream_integrity_failures_total``) and asks another; it is never served.

Only the fields the node reads or serves as numbers are checked (per method below);
hashes and data are the trust checks' business (validation/trust/).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import IntegrityFailure
from ..jsonrpc import Call, RpcError

__all__ = ["BOUNDS", "U64", "U256", "check_answer", "check_header", "quantity_ok"]

BOUNDS = "bounds"
"""The check's name in IntegrityFailure, results and metric labels."""
U64 = 64
U256 = 256

_HEX = {U64: re.compile(r"0x[0-9a-fA-F]{1,16}"), U256: re.compile(r"0x[0-9a-fA-F]{1,64}")}
_MATCH = {bits: rx.fullmatch for bits, rx in _HEX.items()}


def quantity_ok(value: object, bits: int) -> bool:
    """Is ``value`` a quantity below 2**bits (0x-hex, or a JSON integer)?"""
    if type(value) is str:
        return _MATCH[bits](value) is not None
    if type(value) is int:
        return 0 <= value < 1 << bits
    return False


class _Bad(Exception):
    def __init__(self, where: str, value: object) -> None:
        text = repr(value)
        super().__init__(f"{where} is out of range or not a quantity: "
                         f"{text if len(text) <= 40 else text[:37] + '...'}"
                         f"{f' ({len(value)} characters)' if isinstance(value, str) else ''}")


Fields = tuple[tuple[str, int], ...]

_HEADER: Fields = (
    ("number", U64), ("gasLimit", U64), ("gasUsed", U64), ("timestamp", U64), ("size", U64),
    ("blobGasUsed", U64), ("excessBlobGas", U64), ("baseFeePerGas", U256),
    ("difficulty", U256), ("totalDifficulty", U256))
_TX: Fields = (
    ("blockNumber", U64), ("transactionIndex", U64), ("nonce", U64), ("gas", U64),
    ("chainId", U64), ("type", U64), ("yParity", U64), ("value", U256), ("gasPrice", U256),
    ("maxFeePerGas", U256), ("maxPriorityFeePerGas", U256), ("maxFeePerBlobGas", U256),
    ("v", U256), ("r", U256), ("s", U256))
_RECEIPT: Fields = (
    ("blockNumber", U64), ("transactionIndex", U64), ("cumulativeGasUsed", U64),
    ("gasUsed", U64), ("status", U64), ("type", U64), ("blobGasUsed", U64),
    ("blockTimestamp", U64), ("effectiveGasPrice", U256), ("blobGasPrice", U256))
_LOG: Fields = (("blockNumber", U64), ("logIndex", U64), ("transactionIndex", U64),
                ("blockTimestamp", U64))
_AUTH: Fields = (("chainId", U256), ("nonce", U64), ("yParity", U64), ("r", U256),
                 ("s", U256))
_PROOF: Fields = (("balance", U256), ("nonce", U64))
_SYNCING: Fields = (("startingBlock", U64), ("currentBlock", U64), ("highestBlock", U64))
_FEE_HISTORY: Fields = (("oldestBlock", U64),)


def _fields(obj: Mapping[str, Any], fields: Fields, what: str) -> None:
    """Every field of ``fields`` that ``obj`` has: :func:`quantity_ok`, inlined (it runs
    for every field of every transaction of a block)."""
    get = obj.get
    for key, bits in fields:
        value = get(key)
        if value is None or (type(value) is str and _MATCH[bits](value) is not None):
            continue
        if type(value) is int and 0 <= value < 1 << bits:
            continue
        raise _Bad(f"{what}.{key}", value)


def _each_object(items: Any, fields: Fields, what: str) -> None:
    """:func:`_fields` of every object in a list (anything else in it is not a number)."""
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                _fields(item, fields, what)


def _each_scalar(items: Any, bits: int, what: str) -> None:
    """Every item of a list a quantity below 2**bits (or null)."""
    if isinstance(items, list):
        for item in items:
            _scalar(item, bits, what)


def _object(value: Any, what: str) -> Mapping[str, Any] | None:
    """The answer's object; None for anything else (a malformed shape is for the
    reader to refuse, not a number out of range)."""
    return value if isinstance(value, dict) else None


def _scalar(value: Any, bits: int, what: str) -> None:
    if value is not None and not quantity_ok(value, bits):
        raise _Bad(what, value)


def _tx(value: Any, what: str) -> None:
    tx = _object(value, what)
    if tx is None:
        return
    _fields(tx, _TX, what)
    _each_object(tx.get("authorizationList"), _AUTH, what + ".authorizationList")


def _block(value: Any, what: str) -> None:
    block = _object(value, what)
    if block is None:
        return
    _fields(block, _HEADER, what)
    txs = block.get("transactions")
    if isinstance(txs, list):
        for tx in txs:
            if type(tx) is not str:
                _tx(tx, what + ".transactions")


def _logs(value: Any, what: str) -> None:
    _each_object(value, _LOG, what)  # eth_getFilterChanges may list hashes: skipped


def _receipt(value: Any, what: str) -> None:
    receipt = _object(value, what)
    if receipt is None:
        return
    _fields(receipt, _RECEIPT, what)
    _logs(receipt.get("logs"), what + ".logs")


def _receipts(value: Any, what: str) -> None:
    if isinstance(value, list):
        for r in value:
            _receipt(r, what)


def _decimal(value: Any, what: str) -> None:
    """net_version: a decimal string (the network id), below 2**64."""
    if value is None:
        return
    if type(value) is str and 0 < len(value) <= 20 and value.isascii() and value.isdigit() \
            and int(value) < 1 << U64:
        return
    raise _Bad(what, value)


def _fee_history(value: Any, what: str) -> None:
    doc = _object(value, what)
    if doc is None:
        return
    _fields(doc, _FEE_HISTORY, what)
    for key in ("baseFeePerGas", "baseFeePerBlobGas"):
        _each_scalar(doc.get(key), U256, f"{what}.{key}")
    rewards = doc.get("reward")
    if isinstance(rewards, list):
        for row in rewards:
            _each_scalar(row, U256, f"{what}.reward")


def _syncing(value: Any, what: str) -> None:
    if isinstance(value, dict):
        _fields(value, _SYNCING, what)


def _proof(value: Any, what: str) -> None:
    doc = _object(value, what)
    if doc is not None:
        _fields(doc, _PROOF, what)


def _u64(value: Any, what: str) -> None:
    _scalar(value, U64, what)


def _u256(value: Any, what: str) -> None:
    _scalar(value, U256, what)


_BY_METHOD = {
    "eth_blockNumber": _u64, "eth_chainId": _u64, "eth_estimateGas": _u64,
    "eth_getTransactionCount": _u64, "net_peerCount": _u64,
    "eth_getBlockTransactionCountByHash": _u64, "eth_getBlockTransactionCountByNumber": _u64,
    "eth_getUncleCountByBlockHash": _u64, "eth_getUncleCountByBlockNumber": _u64,
    "eth_gasPrice": _u256, "eth_maxPriorityFeePerGas": _u256, "eth_blobBaseFee": _u256,
    "eth_getBalance": _u256,
    "net_version": _decimal,
    "eth_getBlockByHash": _block, "eth_getBlockByNumber": _block,
    "eth_getUncleByBlockHashAndIndex": _block, "eth_getUncleByBlockNumberAndIndex": _block,
    "eth_getTransactionByHash": _tx, "eth_getTransactionByBlockHashAndIndex": _tx,
    "eth_getTransactionByBlockNumberAndIndex": _tx,
    "eth_getTransactionReceipt": _receipt, "eth_getBlockReceipts": _receipts,
    "eth_getLogs": _logs, "eth_getFilterLogs": _logs, "eth_getFilterChanges": _logs,
    "eth_getProof": _proof, "eth_feeHistory": _fee_history, "eth_syncing": _syncing,
}


def check_answer(call: Call, answer: Any) -> None:
    """Raise IntegrityFailure(BOUNDS) when ``answer`` (the result of ``call``; an
    RpcError value passes) has a number out of range."""
    check = _BY_METHOD.get(call.method)
    if check is None or answer is None or type(answer) is RpcError:
        return
    try:
        check(answer, call.method)
    except _Bad as exc:
        raise IntegrityFailure(BOUNDS, str(exc)) from None


def check_header(header: Any, what: str = "newHeads") -> None:
    """A header pushed over a subscription (newHeads), as check_answer checks blocks."""
    try:
        _block(header, what)
    except _Bad as exc:
        raise IntegrityFailure(BOUNDS, str(exc)) from None
