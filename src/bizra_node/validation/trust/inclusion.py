"""A transaction and its receipt, proven against a proven block.

:func:`prove_transaction` ties the transaction object an upstream served to a block
checked by :func:`~.block.prove_block`: the transaction itself (hash, signature, chain
id), its position (the block's proven transaction list has this hash at the claimed
index; block hash, number and timestamp agree), and its receipt (the same consensus
encoding as the proven receipt at that index, so status, cumulative gas and logs; and
the receipt's own fields: transaction hash, block, index, gasUsed from the cumulative
gas, from, to, contractAddress and effectiveGasPrice recomputed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._hex import as_int, as_object, field_bytes, field_int, field_opt_bytes
from ._keccak import keccak
from ._rlp import encode
from .block import ProvenBlock, receipt_hashes
from .errors import Check, TrustError
from .header import Header
from .receipts import ConsensusReceipt, decode_receipt
from .transactions import VerifiedTx, verify_transaction

__all__ = ["ProvenTx", "prove_transaction"]

_IN = Check.NOT_IN_BLOCK
_RM = Check.RECEIPT_MISMATCH


@dataclass(frozen=True, slots=True)
class ProvenTx:
    tx: VerifiedTx
    index: int
    header: Header
    receipt: ConsensusReceipt | None
    gas_used: int | None
    checks: tuple[Check, ...]


def _timestamp(value: object, check: Check) -> int:
    """``blockTimestamp`` is hex on anvil's transactions but an integer on its receipts."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return as_int(value, check, "blockTimestamp")


def _position(tx: Mapping[str, Any], verified: VerifiedTx, block: ProvenBlock) -> int:
    header = block.header
    block_hash = field_bytes(tx, "blockHash", _IN, 32)
    if block_hash != header.hash:
        raise TrustError(_IN, f"the transaction names block 0x{block_hash.hex()}, "
                              f"the proven block is 0x{header.hash.hex()}")
    if field_int(tx, "blockNumber", _IN) != header.number:
        raise TrustError(_IN, f"blockNumber is not {header.number}")
    index = field_int(tx, "transactionIndex", _IN)
    if index >= len(block.tx_hashes) or block.tx_hashes[index] != verified.hash:
        where = (f"it is at index {block.tx_hashes.index(verified.hash)}"
                 if verified.hash in block.tx_hashes else "it is not in the block")
        raise TrustError(_IN, f"the block has no such transaction at index {index}: {where}")
    if tx.get("blockTimestamp") is not None and \
            _timestamp(tx["blockTimestamp"], _IN) != header.timestamp:
        raise TrustError(_IN, "blockTimestamp is not the block's timestamp")
    signed = verified.signed
    if signed.type >= 2 and tx.get("gasPrice") is not None and \
            as_int(tx["gasPrice"], Check.TX_FIELDS, "gasPrice") != \
            signed.effective_gas_price(header.base_fee):
        raise TrustError(Check.TX_FIELDS, "gasPrice is not the effective gas price in this block")
    return index


def _differs(mine: ConsensusReceipt, proven: ConsensusReceipt) -> str:
    for name in ("type", "status", "root", "cumulative_gas_used", "logs_bloom", "deposit_nonce",
                 "deposit_receipt_version"):
        if getattr(mine, name) != getattr(proven, name):
            return name
    if len(mine.logs) != len(proven.logs):
        return f"logs ({len(mine.logs)} served, {len(proven.logs)} in the block)"
    return "logs"


def _check_receipt(receipt_json: object, verified: VerifiedTx, index: int,
                   block: ProvenBlock) -> tuple[ConsensusReceipt, int]:
    if block.receipts is None:
        raise ValueError("prove_block was not given the block's receipts")
    receipt = as_object(receipt_json, _RM, "receipt")
    try:
        mine = decode_receipt(receipt)
    except TrustError as exc:
        raise TrustError(_RM, exc.message) from None
    if index >= len(block.receipts):
        raise TrustError(_RM, f"the block's receipts stop before index {index}")
    proven = block.receipts[index]
    if mine.encoding != proven.encoding:
        raise TrustError(_RM, f"the receipt's {_differs(mine, proven)} differs from the "
                              "receipt proven by the receipts root")
    header = block.header
    if field_bytes(receipt, "transactionHash", _RM, 32) != verified.hash:
        raise TrustError(_RM, "transactionHash is not the transaction's hash")
    receipt_hashes(receipt, verified.hash, _RM)
    if field_bytes(receipt, "blockHash", _RM, 32) != header.hash:
        raise TrustError(_RM, "blockHash is not the proven block's")
    if field_int(receipt, "blockNumber", _RM) != header.number:
        raise TrustError(_RM, "blockNumber is not the proven block's")
    if field_int(receipt, "transactionIndex", _RM) != index:
        raise TrustError(_RM, "transactionIndex is not the transaction's")
    before = block.receipts[index - 1].cumulative_gas_used if index else 0
    gas_used = proven.cumulative_gas_used - before
    if field_int(receipt, "gasUsed", _RM) != gas_used:
        raise TrustError(_RM, f"gasUsed is not {gas_used} (the cumulative gas difference)")
    _check_parties(receipt, verified)
    signed = verified.signed
    if receipt.get("effectiveGasPrice") is not None and \
            as_int(receipt["effectiveGasPrice"], _RM, "effectiveGasPrice") != \
            signed.effective_gas_price(header.base_fee):
        raise TrustError(_RM, "effectiveGasPrice is not what the transaction paid in this block")
    if receipt.get("blockTimestamp") is not None and \
            _timestamp(receipt["blockTimestamp"], _RM) != header.timestamp:
        raise TrustError(_RM, "blockTimestamp is not the block's timestamp")
    return proven, gas_used


def _check_parties(receipt: Mapping[str, Any], verified: VerifiedTx) -> None:
    """from, to and contractAddress, where the receipt has them."""
    signed = verified.signed
    if receipt.get("from") is not None and field_bytes(receipt, "from", _RM, 20) != verified.sender:
        raise TrustError(_RM, "from is not the transaction's sender")
    if "to" in receipt and field_opt_bytes(receipt, "to", _RM, 20) != signed.to:
        raise TrustError(_RM, "to is not the transaction's recipient")
    if "contractAddress" in receipt:
        nonce = _creator_nonce(receipt, verified)
        if nonce is None:
            return
        created = None if signed.to is not None else \
            keccak(encode([verified.sender, nonce]))[12:]
        if field_opt_bytes(receipt, "contractAddress", _RM, 20) != created:
            raise TrustError(_RM, "contractAddress is not the address this creation makes")


def _creator_nonce(receipt: Mapping[str, Any], verified: VerifiedTx) -> int | None:
    """The nonce a creation's address comes from: the signed one, or a deposit's
    ``depositNonce`` (op-geth's DeriveFields); None when a deposit receipt has none
    (before Regolith): its contractAddress is then not checked."""
    if not verified.signed.is_deposit:
        return verified.signed.nonce
    if receipt.get("depositNonce") is None:
        return None
    return as_int(receipt["depositNonce"], _RM, "depositNonce")


def prove_transaction(tx_json: object, block: ProvenBlock, network_id: int, *,
                      receipt_json: object = None, expected_hash: bytes | None = None) -> ProvenTx:
    """Prove a mined transaction (and its receipt, if given) against ``block``, which
    must have been proven with its receipts when a receipt is given."""
    tx = as_object(tx_json, Check.TX_FIELDS, "transaction")
    verified = verify_transaction(tx, network_id, expected_hash=expected_hash)
    index = _position(tx, verified, block)
    checks = [*verified.checks, *block.checks, _IN]
    receipt: ConsensusReceipt | None = None
    gas_used: int | None = None
    if receipt_json is not None:
        receipt, gas_used = _check_receipt(receipt_json, verified, index, block)
        checks.append(_RM)
    return ProvenTx(verified, index, block.header, receipt, gas_used,
                    tuple(dict.fromkeys(checks)))
