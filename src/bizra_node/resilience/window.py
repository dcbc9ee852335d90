"""A rolling time window of counters kept in a fixed-size ring of buckets.

The window (say 60 s) is cut into ``slots`` buckets (say 100 of 0.6 s). Each bucket
holds one counter per field. Adding to a field touches the current bucket and a
running total; moving to a new bucket subtracts and zeroes only the buckets that
fell out of the window. So ``add`` and ``total`` are O(1) amortised, the memory is
fixed at construction (two ``array`` objects), and nothing is kept per call: the
counts live in C arrays, not in Python objects.

The caller passes ``now`` (a monotonic clock reading) so the window stays a pure
mechanism that tests can drive without sleeping.
"""

from __future__ import annotations

from array import array

__all__ = ["RollingCounts"]


class RollingCounts:
    """Counters per field over the last ``window`` seconds, bucket-granular."""

    __slots__ = ("_base", "_counts", "_epoch", "_fields", "_slots", "_totals", "_width", "window")

    def __init__(self, window: float, slots: int, fields: int) -> None:
        if window <= 0 or slots < 1 or fields < 1:
            raise ValueError("window > 0, slots >= 1 and fields >= 1 are required")
        self.window = window
        self._slots = slots
        self._fields = fields
        self._width = window / slots
        self._counts = array("q", bytes(8 * slots * fields))
        self._totals = array("q", bytes(8 * fields))
        self._epoch = -1
        """Number of the bucket (since the clock's zero) the ring was last advanced to."""
        self._base = 0
        """Index of the current bucket's first counter."""

    def _advance(self, now: float) -> int:
        """Move the ring to ``now``; return the index of the current bucket's first field."""
        epoch = int(now / self._width)
        last = self._epoch
        if epoch != last:
            if epoch < last:  # a clock that went back: count into the newest bucket
                epoch = last
            elif last < 0 or epoch - last >= self._slots:
                self.clear()
            else:
                counts, totals, fields, slots = self._counts, self._totals, self._fields, self._slots
                for e in range(last + 1, epoch + 1):
                    base = (e % slots) * fields
                    for f in range(fields):
                        stale = counts[base + f]
                        if stale:
                            totals[f] -= stale
                            counts[base + f] = 0
            self._epoch = epoch
            self._base = (epoch % self._slots) * self._fields
        return self._base

    def add(self, field: int, now: float, amount: int = 1) -> None:
        if int(now / self._width) == self._epoch:  # the common case: same bucket as last time
            self._counts[self._base + field] += amount
        else:
            self._counts[self._advance(now) + field] += amount
        self._totals[field] += amount

    def total(self, field: int, now: float) -> int:
        self._advance(now)
        return self._totals[field]

    def clear(self) -> None:
        counts = self._counts
        for i in range(len(counts)):
            counts[i] = 0
        totals = self._totals
        for i in range(len(totals)):
            totals[i] = 0
