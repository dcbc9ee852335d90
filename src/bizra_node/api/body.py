"""Request body limits, decided the same way by both adapters (RSGI and ASGI).

A body is read only up to its route's limit. With a Content-Length, the decision is
made before reading: a declared length over the limit is refused at once (and, up to
DRAIN_LIMIT, the body is read and dropped first, so the client finishes sending and
reads the 400 instead of a connection reset). A Content-Length that is not plain
ASCII digits is refused the same way. Without one (chunked), chunks are added up and
the body is refused once it passes the limit (reading on, to drop, up to DRAIN_LIMIT).
"""

from __future__ import annotations

from enum import Enum

__all__ = ["DRAIN_LIMIT", "BodyBuffer", "Declared", "declared_length"]

DRAIN_LIMIT = 1 << 20
"""An over-limit body up to this size is read and dropped before answering; larger:
answer and close."""

_DIGITS = frozenset("0123456789")


class Declared(Enum):
    READ = "read"
    """Within the limit (or not declared): read it."""
    DRAIN = "drain"
    """Over the limit but small enough to read and drop before answering."""
    REFUSE = "refuse"
    """Over the limit (or malformed): answer at once and close."""


def declared_length(value: str | None, limit: int) -> Declared:
    """What to do with a body whose Content-Length header is ``value``."""
    if value is None:
        return Declared.READ
    if not value or len(value) > 19 or not _DIGITS.issuperset(value):
        return Declared.REFUSE
    declared = int(value)
    if declared <= limit:
        return Declared.READ
    return Declared.DRAIN if declared <= DRAIN_LIMIT else Declared.REFUSE


class BodyBuffer:
    """Collects a body chunk by chunk; ``add`` says whether to keep reading."""

    __slots__ = ("_chunks", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] = []

    def add(self, chunk: bytes) -> bool:
        """Take ``chunk``; False once reading on is pointless (past DRAIN_LIMIT)."""
        self.size += len(chunk)
        if self.size > DRAIN_LIMIT:
            return False
        if self.size <= self.limit:
            self._chunks.append(chunk)
        return True

    @property
    def too_large(self) -> bool:
        return self.size > self.limit

    def body(self) -> bytes:
        return b"".join(self._chunks)
