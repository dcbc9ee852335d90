"""Checking what a client sends: hashes, addresses (EIP-55), block numbers.

Each function returns the canonical form or raises ValidationError with details
naming the field and the reason, so a client can fix its request.
"""

from __future__ import annotations

import re
from typing import Literal

from eth_hash.auto import keccak

from ..errors import ValidationError

__all__ = [
    "MAX_BLOCK_NUMBER",
    "BlockTag",
    "parse_address",
    "parse_block_ref",
    "parse_tx_hash",
    "to_checksum_address",
]

MAX_BLOCK_NUMBER = 2**63 - 1
BlockTag = Literal["latest", "finalized", "safe"]
_HASH = re.compile(r"0[xX][0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
_TAGS: frozenset[str] = frozenset({"latest", "finalized", "safe"})


def _invalid(field: str, reason: str, value: object) -> ValidationError:
    shown = value if isinstance(value, int | float | bool) or value is None else str(value)[:100]
    return ValidationError(f"invalid {field}: {reason}",
                           {"field": field, "reason": reason, "value": shown})


def parse_tx_hash(value: str, field: str = "txHash") -> str:
    """A 32-byte 0x-hex hash, lower-cased."""
    if not _HASH.fullmatch(value):
        if not value.startswith(("0x", "0X")):
            raise _invalid(field, "must start with 0x", value)
        if len(value) != 66:
            raise _invalid(field, f"must be 0x followed by 64 hex digits (got {len(value) - 2})",
                           value)
        raise _invalid(field, "contains non-hex characters", value)
    return "0x" + value[2:].lower()


def to_checksum_address(lower_hex40: str) -> str:
    """EIP-55 mixed-case form of a 40-digit lower-case hex address (no 0x)."""
    digest = keccak(lower_hex40.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c
        for i, c in enumerate(lower_hex40)
    )


def parse_address(value: str, field: str = "address") -> str:
    """A 20-byte address in EIP-55 form. Mixed case must carry a correct checksum;
    all-lower and all-upper hex are accepted as unchecksummed."""
    if not _ADDRESS.fullmatch(value):
        if not value.startswith(("0x", "0X")):
            raise _invalid(field, "must start with 0x", value)
        if len(value) != 42:
            raise _invalid(field, f"must be 0x followed by 40 hex digits (got {len(value) - 2})",
                           value)
        raise _invalid(field, "contains non-hex characters", value)
    body = value[2:]
    checksummed = to_checksum_address(body.lower())
    if body != body.lower() and body != body.upper() and body != checksummed[2:]:
        raise _invalid(field, "EIP-55 checksum mismatch", value)
    return checksummed


def parse_block_ref(value: object, field: str = "blockNumber") -> int | BlockTag:
    """An integer 0..2^63-1, or one of the tags latest / finalized / safe."""
    if isinstance(value, bool):
        raise _invalid(field, "must be an integer or 'latest'", value)
    if isinstance(value, int):
        if value < 0:
            raise _invalid(field, "must not be negative", value)
        if value > MAX_BLOCK_NUMBER:
            raise _invalid(field, f"must be at most {MAX_BLOCK_NUMBER}", value)
        return value
    if isinstance(value, str):
        tag = value.strip().lower()
        if tag in _TAGS:
            return tag  # type: ignore[return-value]
        if tag.isdigit():
            return parse_block_ref(int(tag), field)
        if tag.startswith("0x") and len(tag) > 2:
            try:
                return parse_block_ref(int(tag, 16), field)
            except ValueError:
                pass
        raise _invalid(field, "must be an integer, a 0x quantity or 'latest'", value)
    raise _invalid(field, "must be an integer or 'latest'", value)
