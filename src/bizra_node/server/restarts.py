"""When to replace a process that died: at once the first time, then later and later
while it keeps dying young, never giving up.

granian's own rule is the opposite: a worker that dies again within 5.5 s of being
respawned is a "crash loop" and the whole server exits, so two crashes (one poison
request sent twice, an OOM kill under a burst) take every worker and the port down.
Here a slot that keeps failing costs only its own capacity, and a growing delay keeps
a worker that cannot start (a bad setting, a dead dependency at import) from spinning
the CPU. The same rule serves the cluster's nodes (``bizra_node.cluster.keeper``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "RestartSchedule"]


@dataclass(frozen=True)
class Backoff:
    """The delay before restart number ``streak`` of a slot that keeps dying young."""

    first: float = 0.5
    """Delay before the second restart in a row (the first is immediate)."""
    cap: float = 30.0
    """The longest delay: a slot is tried again at least this often, for ever."""
    stable_after: float = 30.0
    """A process that lived this long before it died starts a new streak."""

    def delay(self, streak: int) -> float:
        """0 for the first death of a streak, then ``first`` doubled each time, capped."""
        if streak <= 1:
            return 0.0
        return float(min(self.first * 2 ** (streak - 2), self.cap))


@dataclass
class RestartSchedule:
    """Per slot (a worker index, a node index): the current streak of early deaths and
    when the slot is due to be restarted."""

    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    streaks: dict[int, int] = field(default_factory=dict)
    due: dict[int, float] = field(default_factory=dict)

    def died(self, slot: int, lived: float) -> float:
        """Record a death after ``lived`` seconds; returns the delay before its restart."""
        streak = 1 if lived >= self.backoff.stable_after else self.streaks.get(slot, 0) + 1
        self.streaks[slot] = streak
        delay = self.backoff.delay(streak)
        self.due[slot] = self.clock() + delay
        return delay

    def pop_due(self) -> list[int]:
        """The slots whose restart time has come (removed from the schedule)."""
        now = self.clock()
        ready = sorted(s for s, at in self.due.items() if at <= now)
        for slot in ready:
            del self.due[slot]
        return ready

    def cancel(self, slot: int) -> None:
        """The slot was restarted some other way (a reload): nothing is pending for it."""
        self.due.pop(slot, None)

    def wait_time(self) -> float | None:
        """Seconds until the next restart is due; None when none is pending."""
        if not self.due:
            return None
        return max(min(self.due.values()) - self.clock(), 0.0)
