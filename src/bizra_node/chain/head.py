"""Each upstream's last known head, and which upstreams lag the others.

Heads come from eth_blockNumber answers (client traffic and the head polls). An
upstream more than ``lag_blocks`` behind the best head among the upstreams still in
service is skipped for reads of 'latest' (used only when nothing else can answer),
so a syncing or stuck node does not serve stale 'latest' answers.

What the node *reports* as the head (never going backwards) is the chain view's
business (validation/chain_view.py), not this tracker's.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HeadTracker"]


class HeadTracker:
    __slots__ = ("heads", "lag_blocks")

    def __init__(self, lag_blocks: int) -> None:
        self.lag_blocks = lag_blocks
        self.heads: dict[str, int] = {}

    def observe(self, upstream: str, head: int) -> None:
        """Record ``upstream``'s latest head (it may go down: a restarted or reorged node)."""
        self.heads[upstream] = head

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
