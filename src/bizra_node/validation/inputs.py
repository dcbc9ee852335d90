"""Checking what a client sends: hashes, addresses (EIP-55), block numbers.

Each function returns the canonical form or raises ValidationError with details
naming the field and the reason, so a client can fix its request.

Numbers are read by one parser (``parse_uint``, ``parse_quantity``): ASCII digits only
(``str.isdigit`` and ``int`` accept Arabic-Indic digits, ``isdigit`` superscripts too),
and their length is checked before any conversion, so no input reaches ``int`` with
more digits than the largest value allowed (``int`` refuses more than 4 300 decimal
digits, and a 4 000-digit hex value is a number no error message can print). The
``*_PATTERN`` constants say the same in regular expressions, for the request types
(msgspec checks them) and the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Literal

from ..errors import ValidationError
from .trust._keccak import keccak

__all__ = [
    "ADDRESS_PATTERN",
    "BLOCK_REF_PATTERN",
    "HASH_PATTERN",
    "MAX_BLOCK_NUMBER",
    "UINT_PATTERN",
    "BlockTag",
    "is_uint",
    "parse_address",
    "parse_block_ref",
    "parse_quantity",
    "parse_tx_hash",
    "parse_uint",
    "shown_value",
    "to_checksum_address",
]

MAX_BLOCK_NUMBER = 2**63 - 1
BlockTag = Literal["latest", "finalized", "safe"]

HASH_PATTERN = "^0[xX][0-9a-fA-F]{64}$"
"""A 32-byte hash, 0x-prefixed hex."""
ADDRESS_PATTERN = "^0[xX][0-9a-fA-F]{40}$"
"""A 20-byte address, 0x-prefixed hex (mixed case must carry a valid EIP-55 checksum)."""
UINT_PATTERN = "^[0-9]{1,19}$"
"""A decimal block number in ASCII digits (at most 2^63-1, which has 19 digits)."""
BLOCK_REF_PATTERN = ("^(?:[0-9]{1,19}|0[xX][0-9a-fA-F]{1,16}|[Ll][Aa][Tt][Ee][Ss][Tt]"
                     "|[Ff][Ii][Nn][Aa][Ll][Ii][Zz][Ee][Dd]|[Ss][Aa][Ff][Ee])$")
"""A block as a string: decimal, a 0x quantity, or a tag (latest, finalized, safe; any case)."""

_HASH = re.compile(HASH_PATTERN[1:-1])
_ADDRESS = re.compile(ADDRESS_PATTERN[1:-1])
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_HEX_DIGITS = 16
_TAGS: frozenset[str] = frozenset({"latest", "finalized", "safe"})


def shown_value(value: object) -> object:
    """``value`` as an error's details may show it: short, and always encodable (an int
    past 64 bits cannot be put in JSON by msgspec, nor printed past 4 300 digits)."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else f"<{value.bit_length()}-bit integer>"
    text = value if isinstance(value, str) else type(value).__name__
    return text[:100]


def _invalid(field: str, reason: str, value: object) -> ValidationError:
    return ValidationError(f"invalid {field}: {reason}",
                           {"field": field, "reason": reason, "value": shown_value(value)})


def is_uint(text: str) -> bool:
    """Whether ``text`` is a non-empty run of ASCII digits (any length). (``isascii``
    is a flag lookup in CPython, so this costs about what ``isdigit`` alone does.)"""
    return text.isascii() and text.isdigit()


def parse_uint(text: str, field: str, *, maximum: int = MAX_BLOCK_NUMBER) -> int:
    """A decimal integer from 0 to ``maximum``, in ASCII digits only."""
    if not is_uint(text):
        raise _invalid(field, "must be a decimal integer (ASCII digits 0-9)", text)
    if len(text.lstrip("0")) > len(str(maximum)):
        raise _invalid(field, f"must be at most {maximum}", text)
    value = int(text)
    if value > maximum:
        raise _invalid(field, f"must be at most {maximum}", text)
    return value


def parse_quantity(text: str, field: str, *, maximum: int = MAX_BLOCK_NUMBER) -> int:
    """A 0x-prefixed hex quantity from 0 to ``maximum`` (at most 16 hex digits)."""
    digits = text[2:]
    if not text.startswith(("0x", "0X")) or not digits or not _HEX.issuperset(digits):
        raise _invalid(field, "must be a 0x quantity (hex digits)", text)
    if len(digits) > _MAX_HEX_DIGITS:
        raise _invalid(field, f"must be at most {_MAX_HEX_DIGITS} hex digits", text)
    value = int(digits, 16)
    if value > maximum:
        raise _invalid(field, f"must be at most {maximum}", text)
    return value


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
    """An integer 0..2^63-1 (a JSON number, a decimal string or a 0x quantity), or one
    of the tags latest / finalized / safe (any case)."""
    if isinstance(value, bool):
        raise _invalid(field, "must be an integer or 'latest'", value)
    if isinstance(value, int):
        if value < 0:
            raise _invalid(field, "must not be negative", value)
        if value > MAX_BLOCK_NUMBER:
            raise _invalid(field, f"must be at most {MAX_BLOCK_NUMBER}", value)
        return value
    if isinstance(value, str):
        if is_uint(value):
            return parse_uint(value, field)
        if value.startswith(("0x", "0X")):
            return parse_quantity(value, field)
        tag = value.lower()
        if tag in _TAGS:
            return tag  # type: ignore[return-value]
        raise _invalid(field, "must be an integer, a 0x quantity or 'latest'", value)
    raise _invalid(field, "must be an integer or 'latest'", value)
