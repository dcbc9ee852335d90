"""Numbered reorg invalidations, for entries computed while one landed.

A reorg may land while a computation is in flight: its answer was read from the old
chain and would be stored after the cache had dropped its peers. Each invalidation is
numbered and the latest REMEMBERED kept; a computation takes :attr:`mark` before it
asks upstream, and :meth:`overtaken` says afterwards whether an invalidation since
then covers its entry (its block at or above the first replaced block; final entries
only when the invalidation reached them). TieredCache keeps the entries; this keeps
the count.
"""

from __future__ import annotations

from collections import deque

from .entry import Entry

__all__ = ["REMEMBERED", "Invalidations"]

REMEMBERED = 64
"""Invalidations kept for computations in flight; one older than these counts as
covering every entry (a computation that outlived 64 reorgs is not cached)."""


class Invalidations:
    __slots__ = ("_latest", "mark")

    def __init__(self) -> None:
        self.mark = 0
        """The invalidations so far: taken before computing an entry."""
        self._latest: deque[tuple[int, int, bool]] = deque(maxlen=REMEMBERED)
        """(number, first replaced block, final entries too) of the latest ones."""

    def note(self, first: int, *, final_too: bool) -> None:
        """An invalidation of the entries at ``first`` or above (final ones too)."""
        self.mark += 1
        self._latest.append((self.mark, first, final_too))

    def overtaken(self, entry: Entry, since: int) -> bool:
        """Whether an invalidation numbered after ``since`` covers ``entry``."""
        if self.mark == since or entry.block < 0:
            return False
        if not self._latest or self._latest[0][0] > since + 1:
            return True  # some of them are no longer remembered
        return any(n > since and entry.block >= first and (final_too or not entry.final)
                   for n, first, final_too in self._latest)
