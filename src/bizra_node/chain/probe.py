"""Looking at the upstreams apart from client traffic: head polls, readiness pings and
the status /api/metrics and /ready show.

With several upstreams, each one's head is polled every HEAD_POLL_INTERVAL so lag
and latency stay known even when traffic goes elsewhere; for an open breaker past
its reset timeout the poll is the probe that may close it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..errors import UpstreamError
from ..jsonrpc import Call
from ..resilience import Periodic, RetryBudget, State
from .head import HeadTracker
from .health import UpstreamHealth

__all__ = ["Prober"]

log = logging.getLogger("bizra_node.chain")

_HEAD_CALL = Call("eth_blockNumber")
_CHAIN_CALL = Call("eth_chainId")

Send = Callable[[UpstreamHealth, list[Call], float], Coroutine[Any, Any, list[Any]]]
ObserveHead = Callable[[UpstreamHealth, str], None]
WrongChain = Callable[[UpstreamHealth, int], None]


class Prober:
    def __init__(self, health: Sequence[UpstreamHealth], heads: HeadTracker, send: Send,
                 observe_head: ObserveHead, *, timeout: float, interval: float,
                 chain_id: int | None = None,
                 on_wrong_chain: WrongChain | None = None) -> None:
        self._health = health
        self._chain_id = chain_id
        self._on_wrong_chain = on_wrong_chain
        self._heads = heads
        self._send = send
        self._observe_head = observe_head
        self._timeout = timeout
        self._interval = interval
        self._polls: Periodic | None = None

    def start(self) -> None:
        """Start polling heads, when there are several upstreams to compare."""
        if self._polls is None and len(self._health) > 1 and self._interval > 0:
            self._polls = Periodic("bizra-head-poll", self.poll_heads, self._interval,
                                   logger=log, first_delay=0)
            self._polls.start()

    async def stop(self) -> None:
        if self._polls is not None:
            await self._polls.stop()
            self._polls = None

    async def poll_heads(self) -> None:
        await asyncio.gather(*(self._poll_one(h) for h in self._health))

    async def _poll_one(self, h: UpstreamHealth) -> None:
        if not h.available(time.monotonic()) or not h.breaker.allow():
            return
        try:
            (raw,) = await self._send(h, [_HEAD_CALL], min(self._timeout, self._interval)
                                      if self._interval > 0 else self._timeout)
        except UpstreamError:
            return
        if type(raw) is str:
            self._observe_head(h, raw)

    async def check_chains(self, timeout: float) -> None:
        """Ask each upstream whose chain id is not known yet, or was another chain's, for
        eth_chainId (concurrently): one that serves another chain than the node's is
        out of service (UpstreamHealth.wrong_chain) until it answers the node's."""
        await self._check_chains([h for h in self._health if h.chain_id is None or h.wrong_chain],
                                 timeout)

    async def _check_chains(self, health: list[UpstreamHealth], timeout: float) -> None:
        if self._chain_id is not None:
            await asyncio.gather(*(self._check_chain(h, timeout) for h in health
                                   if h.breaker.state is not State.OPEN))

    async def _check_chain(self, h: UpstreamHealth, timeout: float) -> None:
        try:
            (raw,) = await self._send(h, [_CHAIN_CALL], min(timeout, self._timeout))
            got = int(raw, 16) if type(raw) is str else None
        except (UpstreamError, ValueError):
            return  # not known yet: asked again at the next readiness check
        if got is None:
            return
        wrong = got != self._chain_id
        if wrong and not h.wrong_chain and self._on_wrong_chain is not None:
            self._on_wrong_chain(h, got)
        elif h.wrong_chain and not wrong:
            log.warning("upstream %s now serves chain %d: back in service", h.name, got,
                        extra={"upstream": h.name})
        h.chain_id, h.wrong_chain = got, wrong

    async def ping(self, timeout: float = 2.0) -> dict[str, Any]:
        """Readiness: each upstream's breaker state and counters; those whose breaker
        lets a call through are asked for eth_blockNumber (concurrently). Chain ids: those
        serving another chain are asked again first (back in service once they serve
        this one), those not known yet after."""
        await self._check_chains([h for h in self._health if h.wrong_chain], timeout)

        async def one(h: UpstreamHealth) -> tuple[str, dict[str, Any]]:
            info: dict[str, Any] = {"ok": False}
            if h.available(time.monotonic()) and h.breaker.allow():
                try:
                    (raw,) = await self._send(h, [_HEAD_CALL], min(timeout, self._timeout))
                    if type(raw) is str:
                        info["ok"] = True
                        self._observe_head(h, raw)
                        info["head"] = raw
                except UpstreamError as exc:
                    info["error"] = exc.message
            else:
                info["error"] = "circuit open" if h.breaker.state is State.OPEN else "paused"
            info.update(h.snapshot())
            return h.name, info
        results = dict(await asyncio.gather(*(one(h) for h in self._health)))
        await self._check_chains([h for h in self._health if h.chain_id is None], timeout)
        for h in self._health:
            if h.wrong_chain:
                results[h.name].update(ok=False, error=f"serves chain {h.chain_id}, not "
                                                       f"{self._chain_id}")
        return results

    async def ask_each(self, calls: list[Call], timeout: float) -> dict[str, list[Any] | None]:
        """``calls`` to every upstream that takes a call now, concurrently, with no
        failover: their answers side by side (None for one that could not answer), for
        comparing upstreams (the anchor's quorum)."""
        async def one(h: UpstreamHealth) -> tuple[str, list[Any] | None]:
            if not h.available(time.monotonic()) or not h.breaker.allow():
                return h.name, None
            try:
                return h.name, await self._send(h, calls, min(timeout, self._timeout))
            except UpstreamError:
                return h.name, None
        return dict(await asyncio.gather(*(one(h) for h in self._health)))

    def status(self, budget: RetryBudget, hedge_budget: RetryBudget) -> dict[str, Any]:
        """Breaker state and counters, latency, head and lag per upstream; the budgets."""
        best = self._heads.best(h.name for h in self._health if h.breaker.state is not State.OPEN)
        upstreams: dict[str, Any] = {}
        for h in self._health:
            info = h.snapshot()
            info["head"] = self._heads.heads.get(h.name)
            info["lagBlocks"] = self._heads.lag(h.name, best)
            upstreams[h.name] = info
        return {"upstreams": upstreams, "bestHead": best,
                "retryBudget": budget.snapshot(), "hedgeBudget": hedge_budget.snapshot()}
