"""API keys as records: what the store keeps and the security room checks against.

A leaf (like history.py), so that the store (which keeps the records) and the
security room (which checks requests against them) share the type without
depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

__all__ = ["KEY_PREFIX", "SCOPES", "KeyRecord", "KeySource", "parse_scopes"]

KEY_PREFIX: Final = "bzk_"
"""Every key starts with this (secret scanners and people recognise one)."""
SCOPES: Final = ("validate", "rpc", "history", "metrics")
"""What a key may be allowed: the validation and resource routes, /rpc, the validation
history, and /metrics with /api/metrics."""


def parse_scopes(text: str) -> tuple[str, ...]:
    """``"validate,rpc"`` -> ("rpc", "validate"); unknown names raise ValueError."""
    names = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [n for n in names if n not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not names:
        raise ValueError(f"at least one scope is needed; known: {', '.join(SCOPES)}")
    return tuple(names)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One key as the node knows it (never the key itself: its keyed hash)."""

    id: int
    name: str
    key_hash: bytes
    scopes: frozenset[str]
    rate: float | None = None
    """Units per second for this key; None: RATE_LIMIT_KEY_RPS."""
    burst: int | None = None
    """Burst for this key; None: RATE_LIMIT_KEY_BURST."""
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeySource(Protocol):
    """Where keys live (the store's KeyRepository); what the key ring reads."""

    async def active(self, limit: int) -> tuple[list[KeyRecord], datetime]:
        """Up to ``limit`` active keys, most recently used first, and the database's now."""
        ...

    async def changed_since(self, since: datetime) -> tuple[list[KeyRecord], datetime]:
        """Keys created, changed or revoked after ``since``, and the database's now."""
        ...

    async def by_hash(self, key_hash: bytes) -> KeyRecord | None: ...

    async def touch(self, ids: list[int]) -> None:
        """Set last_used_at = now() for these keys."""
        ...
