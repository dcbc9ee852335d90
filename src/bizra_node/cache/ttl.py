"""How long an answer may be served from cache: by kind and by finality.

What can no longer change (a block or transaction at or below the finalized block)
is kept long. What can still change is kept a few seconds, so a reorg cannot stick.
Answers that describe the chain "as of now" (account state, the ``latest`` block,
a transaction not found or not mined yet) are also *moving*: they stop being
served as soon as the head moves on, whatever their TTL says. Errors are never
cached; answers the node could not trust (integrity failures) are not either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["NEVER", "Ttl", "TtlPolicy"]


class Ttl(NamedTuple):
    seconds: float
    """0: do not cache."""
    moving: bool = False
    """Valid only until the chain head moves past the head it was computed at."""
    final: bool = False
    """The answer can no longer change (what was decided final, not read off the TTL)."""


NEVER = Ttl(0.0)


@dataclass(frozen=True, slots=True)
class TtlPolicy:
    final: float = 86400.0
    recent: float = 3.0
    pending: float = 2.0
    address: float = 60.0
    head: float = 2.0
    not_found: float = 4.0

    def __post_init__(self) -> None:
        for name in ("final", "recent", "pending", "address", "head", "not_found"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TtlPolicy.{name} must be positive")

    def lasting(self) -> Ttl:
        """For what can no longer change (content-addressed, constant, final)."""
        return Ttl(self.final, final=True)

    def transaction(self, *, found: bool, mined: bool, final: bool) -> Ttl:
        if not found:
            # negative cache, but a transaction sent now may be mined in the next block
            return Ttl(self.not_found, moving=True)
        if not mined:
            return Ttl(self.pending, moving=True)
        return self.lasting() if final else Ttl(self.recent)

    def block(self, *, found: bool, final: bool, by_tag: bool) -> Ttl:
        if by_tag:  # latest / safe / finalized name a different block after each new head
            return Ttl(self.recent, moving=True)
        if not found:  # a number beyond the head: it exists after the next block(s)
            return Ttl(self.not_found, moving=True)
        return self.lasting() if final else Ttl(self.recent)

    def account(self) -> Ttl:
        return Ttl(self.address, moving=True)
