"""Each upstream's last known head, which head a quorum of them vouches for, and which
upstreams lag the others.

Heads come from eth_blockNumber answers (client traffic and the head polls). The
*vouched* head is the highest block ``quorum`` upstreams have each reached (HEAD_QUORUM,
at most the number of upstreams: one upstream vouches for itself). An upstream whose
head is more than ``lag_blocks`` ahead of the vouched head is not believed until others
reach it: :meth:`HeadTracker.best` (what lag, "not yet" answers and the head follower
go by) ignores it. An upstream more than ``lag_blocks`` behind the best believed head
among the upstreams still in service is skipped for reads of 'latest' (used only when
nothing else can answer), so a syncing or stuck node does not serve stale 'latest'
answers.

What the node *reports* as the head (never going backwards, never above the vouched
head or the sync committee's) is the chain view's business
(validation/chain_view.py), not this tracker's.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HeadTracker"]


class HeadTracker:
    __slots__ = ("heads", "lag_blocks", "quorum")

    def __init__(self, lag_blocks: int, quorum: int = 1) -> None:
        if quorum < 1:
            raise ValueError("HeadTracker: quorum >= 1")
        self.lag_blocks = lag_blocks
        self.quorum = quorum
        """Upstreams that must have reached a block for it to be vouched for."""
        self.heads: dict[str, int] = {}

    def observe(self, upstream: str, head: int) -> None:
        """Record ``upstream``'s latest head (it may go down: a restarted or reorged node)."""
        self.heads[upstream] = head

    def vouched(self, upstreams: Iterable[str]) -> int | None:
        """The highest head ``quorum`` of ``upstreams`` have each reached (the quorum is
        capped at their number); None while fewer heads than that are known."""
        names = list(upstreams)
        need = min(self.quorum, len(names))
        known = sorted((self.heads[u] for u in names if u in self.heads), reverse=True)
        if need < 1 or len(known) < need:
            return None
        return known[need - 1]

    def best(self, upstreams: Iterable[str]) -> int:
        """The highest believed head among ``upstreams`` (0 when none is known): heads
        more than ``lag_blocks`` above the vouched one are left out."""
        names = list(upstreams)
        heads = self.heads
        known = [heads[u] for u in names if u in heads]
        if not known:
            return 0
        vouched = self.vouched(names)
        if vouched is None:
            return max(known)
        return max(h for h in known if h <= vouched + self.lag_blocks)

    def lag(self, upstream: str, best: int) -> int:
        """Blocks ``upstream`` is behind ``best`` (0 when its head is unknown)."""
        head = self.heads.get(upstream)
        return 0 if head is None else max(best - head, 0)

    def lagging(self, upstream: str, best: int) -> bool:
        return self.lag(upstream, best) > self.lag_blocks
