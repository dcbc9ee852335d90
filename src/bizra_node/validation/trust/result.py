"""What an answer says was proven: the ``verification`` object of a result.

``level`` says how far the proof reaches: ``unverified`` (nothing checked),
``consistent`` (the answer matches a block header whose hash was recomputed, but that
header is not linked to an anchor) or ``anchored`` (the header is linked by parent
hashes to the anchor). ``anchor`` says where the anchor comes from: ``quorum`` (a
finalized hash a quorum of independent upstreams agree on), ``checkpoint`` (pinned by
the operator), ``first-use`` (one upstream's finalized hash, trusted the first time
it was seen: as good as that upstream at that moment) or ``sync-committee`` (the
finalized execution block the beacon chain's sync committee signed, followed by the
light client from a trusted beacon block root). ``unproven`` says what the node could
not prove about the answer and why (a transaction type it has no encoding for, and so
a block whose transactions root it cannot rebuild): the answer is the upstream's word
there, whatever the level says about the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from .errors import Check

__all__ = ["Anchor", "AnchorSource", "Failure", "Level", "Verification", "verification"]


class Level(StrEnum):
    UNVERIFIED = "unverified"
    CONSISTENT = "consistent"
    ANCHORED = "anchored"


class AnchorSource(StrEnum):
    QUORUM = "quorum"
    CHECKPOINT = "checkpoint"
    FIRST_USE = "first-use"
    SYNC_COMMITTEE = "sync-committee"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A block the node trusts: its number, hash, and why it is trusted."""

    number: int
    hash: bytes
    source: AnchorSource


class Failure(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """The check an upstream's answer failed (after every upstream asked had failed or
    lied): machine-readable ``check``, the ``upstream`` that gave the answer, and how."""

    check: str
    upstream: str
    message: str


class Verification(msgspec.Struct, kw_only=True, rename="camel", frozen=True,
                   omit_defaults=True):
    """The ``verification`` object of a result."""

    level: Level
    anchor: AnchorSource | None = None
    anchor_number: int | None = None
    anchor_hash: str | None = None
    checks: tuple[Check, ...] = ()
    failure: Failure | None = None
    unproven: str | None = None


def verification(checks: Iterable[Check], anchor: Anchor | None = None, *,
                 unproven: str | None = None) -> Verification:
    """Build the object from the checks that ran (duplicates dropped, order kept): the
    level is ``anchored`` when parent_link ran against ``anchor``; ``unproven``: what
    could not be proven, said beside it."""
    ran = tuple(dict.fromkeys(checks))
    if not ran:
        return Verification(level=Level.UNVERIFIED, unproven=unproven)
    if anchor is None or Check.PARENT_LINK not in ran:
        return Verification(level=Level.CONSISTENT, checks=ran, unproven=unproven)
    return Verification(level=Level.ANCHORED, anchor=anchor.source, anchor_number=anchor.number,
                        anchor_hash="0x" + anchor.hash.hex(), checks=ran, unproven=unproven)
