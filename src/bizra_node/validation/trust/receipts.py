"""Receipts: the consensus encoding of an upstream's JSON receipt.

A receipt in the receipts trie is ``rlp([status or root, cumulativeGasUsed, logsBloom,
logs])``, each log ``[address, topics, data]``, with the transaction type as a prefix
byte for type >= 1 (EIP-2718). Before Byzantium the first item was the intermediate
state ``root`` (32 bytes) instead of ``status``. That is all the receipts root proves:
``gasUsed`` follows from the cumulative gas of the receipt before it, the block and
transaction fields from where the receipt sits; ``effectiveGasPrice``,
``contractAddress`` and ``from``/``to`` are not in the encoding. An OP-stack deposit
receipt (type 0x7E) adds ``depositNonce`` and ``depositReceiptVersion`` from Canyon on
(deposit.py); the L1 fee fields OP-stack receipts carry are in no encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._hex import as_bytes, as_int, as_object, field_bytes, field_int, field_list
from ._rlp import encode
from .deposit import DEPOSIT_TX_TYPE, deposit_receipt_tail
from .errors import Check, TrustError

__all__ = ["ConsensusReceipt", "decode_receipt", "encode_receipt"]

_R = Check.RECEIPTS_ROOT


@dataclass(frozen=True, slots=True)
class ConsensusReceipt:
    """The fields of a receipt that its encoding (and so the receipts root) covers."""

    type: int
    status: int | None
    """1 success, 0 failure; None before Byzantium (``root`` instead)."""
    root: bytes | None
    cumulative_gas_used: int
    logs_bloom: bytes
    logs: list[Any]
    """[address, [topics], data] per log."""
    encoding: bytes
    deposit_nonce: int | None = None
    """A deposit receipt's (Regolith on); in the encoding only with a version."""
    deposit_receipt_version: int | None = None
    """A deposit receipt's (Canyon on: 1)."""


def _logs(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for entry in value:
        log = as_object(entry, _R, "log")
        topics = field_list(log, "topics", _R)
        out.append([field_bytes(log, "address", _R, 20),
                    [as_bytes(t, _R, "topic", 32) for t in topics],
                    field_bytes(log, "data", _R)])
    return out


def decode_receipt(receipt_json: object) -> ConsensusReceipt:
    """The consensus receipt of an upstream's JSON receipt; TrustError(receipts_root)
    when it is malformed."""
    r: Mapping[str, Any] = as_object(receipt_json, _R, "receipt")
    type_ = as_int(r["type"], _R, "type") if r.get("type") is not None else 0
    if type_ > 0x7F:
        raise TrustError(_R, f"receipt type {type_} is not an EIP-2718 type")
    status: int | None = None
    root: bytes | None = None
    if r.get("status") is not None:
        status = as_int(r["status"], _R, "status")
        if status not in (0, 1):
            raise TrustError(_R, f"status is {status}, not 0 or 1")
        first: int | bytes = status
    elif r.get("root") is not None:
        root = as_bytes(r["root"], _R, "root", 32)
        first = root
    else:
        raise TrustError(_R, "receipt has neither status nor root")
    cumulative = field_int(r, "cumulativeGasUsed", _R)
    bloom = field_bytes(r, "logsBloom", _R, 256)
    logs = _logs(field_list(r, "logs", _R))
    items: list[Any] = [first, cumulative, bloom, logs]
    nonce = version = None
    if type_ == DEPOSIT_TX_TYPE:
        nonce, version = deposit_receipt_tail(r, _R)
        if version is not None:
            items += [nonce, version]
    body = encode(items)
    encoding = body if type_ == 0 else bytes((type_,)) + body
    return ConsensusReceipt(type_, status, root, cumulative, bloom, logs, encoding, nonce,
                            version)


def encode_receipt(receipt_json: object) -> bytes:
    """The receipt as it goes into the receipts trie."""
    return decode_receipt(receipt_json).encoding
