"""Head tracking across upstreams.

Each upstream's last known head comes from eth_blockNumber answers (client traffic
and the pool's head poll). Two rules follow:

* an upstream more than ``lag_blocks`` behind the best head among the upstreams
  still in service is skipped for reads of 'latest' (used only when nothing else can
  answer), so a syncing or stuck node does not serve stale 'latest' answers;
* the head the node reports never goes backwards: an eth_blockNumber answer below
  the highest head already reported is replaced by that head.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HeadTracker"]


class HeadTracker:
    __slots__ = ("heads", "lag_blocks", "reported")

    def __init__(self, lag_blocks: int) -> None:
        self.lag_blocks = lag_blocks
        self.heads: dict[str, int] = {}
        self.reported = 0
        """The highest head ever reported: what clients see as the head."""

    def observe(self, upstream: str, head: int) -> int:
        """Record ``upstream``'s head; return the head to report (never lower than
        anything reported before)."""
        self.heads[upstream] = head
        if head > self.reported:
            self.reported = head
        return self.reported

    def best(self, upstreams: Iterable[str]) -> int:
        """The highest known head among ``upstreams`` (0 when none is known)."""
        heads = self.heads
        return max((heads.get(u, 0) for u in upstreams), default=0)

    def lag(self, upstream: str, best: int) -> int:
        """Blocks ``upstream`` is behind ``best`` (0 when its head is unknown)."""
        head = self.heads.get(upstream)
        return 0 if head is None else max(best - head, 0)

    def lagging(self, upstream: str, best: int) -> bool:
        return self.lag(upstream, best) > self.lag_blocks
