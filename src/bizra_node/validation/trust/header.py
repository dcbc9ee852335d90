"""Block headers: the hash from the fields, and the chain of parent hashes to an anchor.

A header's hash is keccak(rlp(fields)) in consensus order; forks appended fields
(London baseFeePerGas, Shanghai withdrawalsRoot, Cancun blobGasUsed, excessBlobGas and
parentBeaconBlockRoot, Prague requestsHash), each present from its fork on, so the
fork fields of a header are a prefix of that list. Once a header's hash is checked,
every root in it (state, transactions, receipts, withdrawals) is as good as the hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ._hex import as_bytes, as_int, as_object, field_bytes, field_int
from ._keccak import keccak
from ._rlp import encode
from .errors import Check, TrustError
from .result import Anchor

__all__ = ["Header", "header_hash", "verify_chain", "verify_header"]

# (field, byte length; 0 = any length, None = a quantity), in RLP order.
_BASE: tuple[tuple[str, int | None], ...] = (
    ("parentHash", 32), ("sha3Uncles", 32), ("miner", 20), ("stateRoot", 32),
    ("transactionsRoot", 32), ("receiptsRoot", 32), ("logsBloom", 256), ("difficulty", None),
    ("number", None), ("gasLimit", None), ("gasUsed", None), ("timestamp", None),
    ("extraData", 0), ("mixHash", 32), ("nonce", 8),
)
_FORKS: tuple[tuple[str, int | None], ...] = (
    ("baseFeePerGas", None), ("withdrawalsRoot", 32), ("blobGasUsed", None),
    ("excessBlobGas", None), ("parentBeaconBlockRoot", 32), ("requestsHash", 32),
)


@dataclass(frozen=True, slots=True)
class Header:
    """A header whose hash was recomputed from its fields (and matched the claim)."""

    hash: bytes
    number: int
    parent_hash: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    withdrawals_root: bytes | None
    base_fee: int | None
    timestamp: int
    logs_bloom: bytes = b""
    """The 2048-bit bloom of every log's address and topics in the block."""


def _item(header: Mapping[str, Any], key: str, length: int | None) -> int | bytes:
    if length is None:
        return field_int(header, key, Check.HEADER_HASH)
    return field_bytes(header, key, Check.HEADER_HASH, length or None)


def header_hash(header_json: object) -> bytes:
    """keccak(rlp(header)) from the JSON fields; TrustError(header_hash) if malformed."""
    header = as_object(header_json, Check.HEADER_HASH, "block header")
    items = [_item(header, key, length) for key, length in _BASE]
    for key, length in _FORKS:
        if header.get(key) is None:
            break  # fork fields are a prefix: the first missing one ends the list
        items.append(_item(header, key, length))
    return keccak(encode(items))


def verify_header(header_json: object, *, expected_hash: bytes | None = None) -> Header:
    """Recompute the hash and compare it with the claimed one (and the asked-for one)."""
    header = as_object(header_json, Check.HEADER_HASH, "block header")
    computed = header_hash(header)
    claimed = field_bytes(header, "hash", Check.HEADER_HASH, 32)
    if computed != claimed:
        raise TrustError(Check.HEADER_HASH, f"the header hashes to 0x{computed.hex()}, "
                             f"not the claimed 0x{claimed.hex()}")
    if expected_hash is not None and computed != expected_hash:
        raise TrustError(Check.HEADER_HASH, f"asked for block 0x{expected_hash.hex()}, "
                             f"the upstream answered 0x{computed.hex()}")
    withdrawals = header.get("withdrawalsRoot")
    base_fee = header.get("baseFeePerGas")
    return Header(
        hash=computed, number=field_int(header, "number", Check.HEADER_HASH),
        parent_hash=field_bytes(header, "parentHash", Check.HEADER_HASH, 32),
        state_root=field_bytes(header, "stateRoot", Check.HEADER_HASH, 32),
        transactions_root=field_bytes(header, "transactionsRoot", Check.HEADER_HASH, 32),
        receipts_root=field_bytes(header, "receiptsRoot", Check.HEADER_HASH, 32),
        withdrawals_root=None if withdrawals is None else as_bytes(withdrawals, Check.HEADER_HASH,
                                                                    "withdrawalsRoot", 32),
        base_fee=None if base_fee is None else as_int(base_fee, Check.HEADER_HASH, "baseFeePerGas"),
        timestamp=field_int(header, "timestamp", Check.HEADER_HASH),
        logs_bloom=field_bytes(header, "logsBloom", Check.HEADER_HASH, 256))


def verify_chain(headers: Sequence[object], anchor: Anchor) -> list[Header]:
    """Check that ``headers`` (any order) form one run of consecutive blocks, each
    hash recomputed and each linked to the one below by parentHash, and that the run
    reaches the anchor: it contains the anchor block, or its lowest header's parent
    is the anchor. Returns the headers, lowest first.

    Headers above the anchor are proven by linking down to it; headers below it by
    the anchor (or a header linked to it) naming them as parents: both are this
    check, with the anchor in or just under the run.
    """
    if not headers:
        raise TrustError(Check.PARENT_LINK, "no headers to link to the anchor")
    run = sorted((verify_header(h) for h in headers), key=lambda h: h.number)
    for below, above in pairwise(run):
        if above.number != below.number + 1:
            raise TrustError(Check.PARENT_LINK, f"blocks {below.number} and {above.number} "
                                                "are not consecutive")
        if above.parent_hash != below.hash:
            raise TrustError(Check.PARENT_LINK, f"block {above.number}'s parentHash is not "
                                                f"the hash of block {below.number}")
    lowest, highest = run[0], run[-1]
    if lowest.number <= anchor.number <= highest.number:
        at = run[anchor.number - lowest.number]
        if at.hash != anchor.hash:
            raise TrustError(Check.PARENT_LINK, f"block {anchor.number} is 0x{at.hash.hex()}, "
                                                f"not the anchor 0x{anchor.hash.hex()}")
    elif lowest.number == anchor.number + 1:
        if lowest.parent_hash != anchor.hash:
            raise TrustError(Check.PARENT_LINK, f"block {lowest.number}'s parent is not "
                                                f"the anchor 0x{anchor.hash.hex()}")
    else:
        raise TrustError(Check.PARENT_LINK, f"blocks {lowest.number}..{highest.number} do not "
                                            f"reach the anchor at {anchor.number}")
    return run
