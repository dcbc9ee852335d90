"""Hedged reads: a read not answered within the upstream's recent p95 (or Tuning.hedge_delay)
is also sent to the next upstream; the first answer wins and the other call is
cancelled. Hedges are paid from a budget of their own (a share of recent calls plus
one a second), apart from the retry budget, so hedging under load never uses up what
failover needs when an upstream dies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..jsonrpc import Call
from ..observability import NodeMetrics
from ..resilience import Deadline, RetryBudget
from .config import UpstreamConfig
from .health import UpstreamHealth

__all__ = ["Hedging"]

_HEDGE_FALLBACK = 0.1
"""Hedge delay while an upstream has too few samples for a p95, s."""
_HEDGES_PER_SECOND = 1.0
"""Hedges always allowed, whatever the traffic (the reserve of the hedge budget)."""

Send = Callable[[UpstreamHealth, list[Call], float], Coroutine[Any, Any, list[Any]]]
Partner = Callable[[Sequence[UpstreamHealth], bool, Sequence[UpstreamHealth], bool],
                   "UpstreamHealth | None"]
"""(busy, latest, tried, proving) -> the healthiest other upstream that takes a call now
(for provable calls, never one that refused a proof)."""


class Hedging:
    def __init__(self, config: UpstreamConfig, metrics: NodeMetrics, send: Send,
                 partner: Partner) -> None:
        self._config = config
        self._metrics = metrics
        metrics.upstream_hedges.preset(("sent",), ("won",), ("lost",), ("failed",))
        self._send = send
        self._partner = partner
        self.budget = RetryBudget(config.hedge_budget_ratio, _HEDGES_PER_SECOND,
                                  config.retry_budget_window)

    def delay(self, h: UpstreamHealth) -> float:
        c = self._config
        if c.hedge_delay > 0:
            return c.hedge_delay
        p95 = h.p95()
        return max(p95 if p95 is not None else _HEDGE_FALLBACK, c.hedge_min_delay)

    async def attempt(self, h: UpstreamHealth, calls: list[Call], dl: Deadline, timeout: float,
                      latest: bool, tried: list[UpstreamHealth], proving: bool = False
                      ) -> tuple[UpstreamHealth, list[Any]]:
        """``calls`` to ``h`` (whose breaker permit the caller holds), hedged after
        :meth:`delay`; returns the upstream that answered first and its answers."""
        primary = asyncio.create_task(self._send(h, calls, timeout))
        owners: dict[asyncio.Task[list[Any]], UpstreamHealth] = {primary: h}
        try:
            done, _ = await asyncio.wait((primary,), timeout=self.delay(h))
            if not done:
                self._launch(owners, calls, dl, latest, tried, proving)
            pending: set[asyncio.Task[list[Any]]] = set(owners)
            error: BaseException | None = None
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        if len(owners) > 1:
                            self._metrics.upstream_hedges.inc(
                                ("lost" if task is primary else "won",))
                        return owners[task], task.result()
                    if error is None or task is primary:
                        error = exc
                    # Hedging is under way and a call failed: bring in the next upstream
                    # rather than wait on the slow one alone.
                    if len(owners) > 1 and self._launch(owners, calls, dl, latest, tried, proving):
                        pending.add(next(reversed(owners)))
            if len(owners) > 1:
                self._metrics.upstream_hedges.inc(("failed",))
            assert error is not None
            raise error
        finally:
            left = [t for t in owners if not t.done()]
            for t in left:
                t.cancel()
            if left:
                await asyncio.wait(left)

    def _launch(self, owners: dict[asyncio.Task[list[Any]], UpstreamHealth], calls: list[Call],
                dl: Deadline, latest: bool, tried: list[UpstreamHealth],
                proving: bool = False) -> bool:
        """Send ``calls`` to one more upstream (not one already asked in this attempt),
        paid from the hedge budget. False when none can take it."""
        timeout = dl.cap(self._config.timeout)
        if timeout <= 0 or not self.budget.try_spend():
            return False
        partner = self._partner(list(owners.values()), latest, tried, proving)
        if partner is None:
            self.budget.refund()
            return False
        tried.append(partner)
        self._metrics.upstream_hedges.inc(("sent",))
        owners[asyncio.create_task(self._send(partner, calls, timeout))] = partner
        return True
