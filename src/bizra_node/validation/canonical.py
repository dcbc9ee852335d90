"""The canonical chain as the node knows it: block hashes by number, linked by parentHash.

Every header added here has had its hash recomputed (trust.verify_header). A header
is kept when it links to what is already known: its parentHash is the hash kept at
the number below, or the header kept at the number above names it as parent. A
header that contradicts what is kept is a *conflict*: either the chain reorganised
(the caller finds the fork point and replaces the part above it) or an upstream
forged a link (the caller fails the answer's parent_link check).

The window is bounded (``max_blocks``): the oldest numbers are forgotten first, but
never the anchor, which every link is proven against.
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
    __slots__ = ("_blocks", "anchor", "max_blocks")

    def __init__(self, max_blocks: int = 8192) -> None:
        self.max_blocks = max_blocks
        self._blocks: dict[int, Linked] = {}
        self.anchor: Linked | None = None

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
        self.anchor = anchor
        kept = self._blocks.get(number)
        if kept is not None and kept.hash != block_hash:
            self.drop_from(number)
        self._blocks[number] = anchor

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
            self._bound()
        return link

    def linked_down_to_anchor(self, number: int) -> bool:
        """Whether every block from ``number`` down (or up) to the anchor is kept and
        each links to the next: the block at ``number`` is proven canonical."""
        anchor = self.anchor
        if anchor is None:
            return False
        step = -1 if number > anchor.number else 1
        n = number
        while n != anchor.number:
            block = self._blocks.get(n)
            other = self._blocks.get(n + step)
            if block is None or other is None:
                return False
            if step == -1 and block.parent != other.hash:
                return False
            if step == 1 and other.parent != block.hash:
                return False
            n += step
        return True

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
        return dropped

    def _bound(self) -> None:
        extra = len(self._blocks) - self.max_blocks
        if extra <= 0:
            return
        anchor = self.anchor.number if self.anchor is not None else None
        for n in sorted(self._blocks)[: extra + (1 if anchor is not None else 0)]:
            if n != anchor and len(self._blocks) > self.max_blocks:
                del self._blocks[n]
