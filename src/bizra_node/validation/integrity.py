"""Checks that what an upstream returned is what was asked for and hangs together.

An upstream can be buggy, lagging or lying. These checks are cheap (tens of µs) and
run on every answer: the block hash is recomputed from the header fields (RLP +
keccak), so a header that was altered in transit or by the upstream is caught.
"""

from __future__ import annotations

from typing import Any

import rlp
from eth_hash.auto import keccak

__all__ = ["IntegrityError", "check_block", "check_transaction", "header_hash"]


class IntegrityError(Exception):
    """The upstream's answer contradicts itself or the question."""


# Header fields in RLP order. The tail fields were added by forks (London, Shanghai,
# Cancun, Prague) and are present only on chains past that fork.
_BASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "b"), ("sha3Uncles", "b"), ("miner", "b"), ("stateRoot", "b"),
    ("transactionsRoot", "b"), ("receiptsRoot", "b"), ("logsBloom", "b"), ("difficulty", "i"),
    ("number", "i"), ("gasLimit", "i"), ("gasUsed", "i"), ("timestamp", "i"),
    ("extraData", "b"), ("mixHash", "b"), ("nonce", "b"),
)
_FORK_FIELDS: tuple[tuple[str, str], ...] = (
    ("baseFeePerGas", "i"), ("withdrawalsRoot", "b"), ("blobGasUsed", "i"),
    ("excessBlobGas", "i"), ("parentBeaconBlockRoot", "b"), ("requestsHash", "b"),
)


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _int(value: str) -> int:
    return int(value, 16)


def header_hash(header: dict[str, Any]) -> str:
    """keccak(rlp(header)) as 0x-hex. Raises IntegrityError if fields are malformed."""
    try:
        items: list[bytes | int] = [
            _bytes(header[k]) if kind == "b" else _int(header[k]) for k, kind in _BASE_FIELDS
        ]
        for k, kind in _FORK_FIELDS:
            v = header.get(k)
            if v is None:
                break  # fork fields are a prefix: the first missing one ends the list
            items.append(_bytes(v) if kind == "b" else _int(v))
        return "0x" + keccak(rlp.encode(items)).hex()
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"block header is malformed: {exc}") from None


def check_block(block: dict[str, Any], number: int | None) -> None:
    """The block is the one asked for and its hash matches its header."""
    got = block.get("number")
    if not isinstance(got, str):
        raise IntegrityError("block has no number")
    if number is not None and _int(got) != number:
        raise IntegrityError(f"asked for block {number}, upstream returned {_int(got)}")
    if header_hash(block) != str(block.get("hash", "")).lower():
        raise IntegrityError("block hash does not match its header")


def check_transaction(tx: dict[str, Any], receipt: dict[str, Any] | None, tx_hash: str) -> None:
    """The transaction and its receipt are the ones asked for and agree on their block."""
    if str(tx.get("hash", "")).lower() != tx_hash:
        raise IntegrityError("upstream returned a different transaction")
    if receipt is None:
        return
    if str(receipt.get("transactionHash", "")).lower() != tx_hash:
        raise IntegrityError("receipt belongs to a different transaction")
    if tx.get("blockHash") and receipt.get("blockHash") != tx.get("blockHash"):
        raise IntegrityError("transaction and receipt disagree on the block")
