"""The canonical chain as the node knows it: block hashes by number, linked by parentHash.

Every header added here has had its hash recomputed (trust.verify_header). A header
is kept when it links to what is already known: its parentHash is the hash kept at
the number below, or the header kept at the number above names it as parent. A
header that contradicts what is kept is a *conflict*: either the chain reorganised
(the caller finds the fork point and replaces the part above it) or an upstream
forged a link (the caller fails the answer's parent_link check).

The window is bounded (``max_blocks``): the oldest numbers are forgotten first, but
never the anchor, which every link is proven against.

Whether a block is linked to the anchor is asked on every answer's proof; the chain
keeps the run of numbers around the anchor in which each block links to the next
(``_low`` .. ``_high``) and moves its ends as blocks are kept and dropped, so the
question is two comparisons instead of a walk of up to TRUST_WALK_LIMIT blocks (5 %
of a transaction miss's CPU in a profile with the walk).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["CanonicalChain", "Link", "Linked"]


class Link(Enum):
    KNOWN = "known"
    """The same hash is already kept at that number."""
    LINKED = "linked"
    """Kept: it links to a neighbour already kept."""
    DETACHED = "detached"
    """Kept, but no neighbour is known yet (the window has a gap below or above)."""
    CONFLICT = "conflict"
    """A different hash is kept at that number, or a neighbour disagrees on the link."""


@dataclass(frozen=True, slots=True)
class Linked:
    number: int
    hash: bytes
    parent: bytes


class CanonicalChain:
    __slots__ = ("_blocks", "_high", "_low", "anchor", "max_blocks")

    def __init__(self, max_blocks: int = 8192) -> None:
        self.max_blocks = max_blocks
        self._blocks: dict[int, Linked] = {}
        self.anchor: Linked | None = None
        self._low, self._high = 1, 0
        """Every block from ``_low`` to ``_high`` is kept and links to the next, and the
        anchor is among them (empty, low > high, without an anchor)."""

    def __len__(self) -> int:
        return len(self._blocks)

    def hash_at(self, number: int) -> bytes | None:
        block = self._blocks.get(number)
        return None if block is None else block.hash

    @property
    def tip(self) -> int:
        """The highest number kept (-1 when empty)."""
        return max(self._blocks, default=-1)

    def set_anchor(self, number: int, block_hash: bytes, parent: bytes) -> None:
        """Pin the anchor (a block trusted by quorum, checkpoint or first use). Blocks
        kept above it that do not link to it any more are dropped."""
        anchor = Linked(number, block_hash, parent)
        kept = self._blocks.get(number)
        if kept is not None and kept.hash != block_hash:
            self.drop_from(number)
        same_run = (kept == anchor and self.anchor is not None
                    and self._low <= number <= self._high)
        self.anchor = anchor
        self._blocks[number] = anchor
        if not same_run:
            self._low = self._high = number
            self._extend()

    def check(self, number: int, block_hash: bytes, parent: bytes) -> Link:
        """How a header relates to what is kept, without keeping it."""
        kept = self._blocks.get(number)
        if kept is not None:
            return Link.KNOWN if kept.hash == block_hash else Link.CONFLICT
        below = self._blocks.get(number - 1)
        above = self._blocks.get(number + 1)
        if below is not None and below.hash != parent:
            return Link.CONFLICT
        if above is not None and above.parent != block_hash:
            return Link.CONFLICT
        return Link.LINKED if below is not None or above is not None else Link.DETACHED

    def add(self, number: int, block_hash: bytes, parent: bytes) -> Link:
        """Keep a verified header unless it conflicts (then nothing changes)."""
        link = self.check(number, block_hash, parent)
        if link in (Link.LINKED, Link.DETACHED):
            self._blocks[number] = Linked(number, block_hash, parent)
            if number in (self._high + 1, self._low - 1) and self.anchor is not None:
                self._extend()
            self._bound()
        return link

    def linked_down_to_anchor(self, number: int) -> bool:
        """Whether every block from ``number`` down (or up) to the anchor is kept and
        each links to the next: the block at ``number`` is proven canonical."""
        return self._low <= number <= self._high

    def _extend(self) -> None:
        """Move the ends of the linked run outwards over blocks that link to it."""
        blocks = self._blocks
        high, low = self._high, self._low
        while (above := blocks.get(high + 1)) is not None and above.parent == blocks[high].hash:
            high += 1
        while (below := blocks.get(low - 1)) is not None and blocks[low].parent == below.hash:
            low -= 1
        self._high, self._low = high, low

    def gaps(self, low: int, high: int) -> list[int]:
        """Numbers in [low, high] with no block kept."""
        return [n for n in range(low, high + 1) if n not in self._blocks]

    def drop_from(self, number: int) -> list[Linked]:
        """Forget every block at ``number`` and above (a reorg replaced them); returns
        what was dropped, lowest first."""
        gone = sorted(n for n in self._blocks if n >= number)
        dropped = [self._blocks.pop(n) for n in gone]
        if self.anchor is not None and self.anchor.number >= number:
            self.anchor = None
            self._low, self._high = 1, 0
        elif number <= self._high:
            self._high = number - 1
        return dropped

    def _bound(self) -> None:
        extra = len(self._blocks) - self.max_blocks
        if extra <= 0:
            return
        anchor = self.anchor.number if self.anchor is not None else None
        for n in sorted(self._blocks)[: extra + (1 if anchor is not None else 0)]:
            if n != anchor and len(self._blocks) > self.max_blocks:
                del self._blocks[n]
                if anchor is not None and self._low <= n <= self._high:
                    if n < anchor:
                        self._low = n + 1
                    else:
                        self._high = n - 1
