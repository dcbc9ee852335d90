"""The validation history as clients see it: the query, a page, the cursor.

This is the read model the API builds queries with and the store answers
(``store.HistoryReader``); neither reaches into the other. The cursor is the keyset
position (validated_at in microseconds, record id), opaque to clients (base64url of
24 bytes); anything else given as a cursor is a 400.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec

from .errors import ValidationError

__all__ = [
    "KINDS",
    "MAX_LIMIT",
    "HistoryItem",
    "HistoryPage",
    "HistoryQuery",
    "HistorySource",
    "Reorged",
    "decode_cursor",
    "encode_cursor",
]

MAX_LIMIT = 500
KINDS = ("transaction", "block", "address")
_CURSOR = struct.Struct(">q16s")
_MAX_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z in µs since the epoch: the last time a cursor can name."""


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    kind: str | None = None
    subject: str | None = None
    valid: bool | None = None
    since: datetime | None = None
    """Inclusive lower bound on validated_at."""
    until: datetime | None = None
    """Exclusive upper bound on validated_at."""
    limit: int = 50
    after: tuple[int, bytes] | None = None
    """Keyset position (validated_at µs, id) from a cursor: rows strictly older."""
    reorged: bool | None = None
    """True: only validations a reorg made obsolete; False: only those standing."""
    network_id: int | None = None
    """Only validations on this network (chain id); None: every network's."""


class Reorged(msgspec.Struct, rename="camel"):
    """A validation whose block a reorg replaced."""

    at: str
    fork: int
    """The last block the old and the new chain share."""
    replaced_by: str | None
    """The hash of the block now at that number (None: the new chain is shorter)."""


class HistoryItem(msgspec.Struct, rename="camel"):
    id: str
    kind: str
    subject: str
    network_id: int
    valid: bool
    status: str | None
    block_number: int | None
    validated_at: str
    result: msgspec.Raw
    reorged: Reorged | None = None


class HistoryPage(msgspec.Struct, rename="camel"):
    items: list[HistoryItem]
    next_cursor: str | None


class HistorySource(Protocol):
    """What answers history queries (the store's HistoryReader)."""

    async def query(self, q: HistoryQuery) -> HistoryPage: ...


def encode_cursor(validated_at_us: int, record_id: bytes) -> str:
    return base64.urlsafe_b64encode(_CURSOR.pack(validated_at_us, record_id)).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, bytes]:
    """Raises ValidationError for anything that is not a cursor this node issued."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != _CURSOR.size:
            raise ValueError("size")
        at, rid = _CURSOR.unpack(raw)
        if not 0 <= at <= _MAX_US:  # forged: a time no record has (and no datetime holds)
            raise ValueError("time")
        return int(at), bytes(rid)
    except (ValueError, binascii.Error, struct.error):
        raise ValidationError("invalid cursor", {"field": "cursor", "reason": "malformed",
                                                 "value": text[:100]}) from None
