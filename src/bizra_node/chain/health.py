"""What the pool knows about one upstream: its breaker, recent latency, Retry-After,
and whether it gives the proofs provable answers need.

Latency is kept two ways, both in fixed memory: an exponentially weighted moving
average (for ranking upstreams) and a ring of the last ``_SAMPLES`` round trips
(for the p95 that decides when a read is hedged). The p95 is recomputed lazily,
at most once every ``_P95_EVERY`` samples.
"""

from __future__ import annotations

import time
from array import array
from typing import Any

from ..resilience import CircuitBreaker, State
from .upstream import Upstream

__all__ = ["UpstreamHealth"]

_SAMPLES = 64
_P95_EVERY = 8
_MIN_SAMPLES = 8
_ALPHA = 0.2
_MIN_LATENCY = 1e-4


class UpstreamHealth:
    __slots__ = ("_n", "_p95", "_p95_at", "_ring", "breaker", "chain_id", "ewma", "inflight",
                 "name", "not_before", "proofs_withheld", "upstream", "wrong_chain")

    def __init__(self, upstream: Upstream, breaker: CircuitBreaker) -> None:
        self.upstream = upstream
        self.name = upstream.name
        self.breaker = breaker
        self.ewma = 0.0
        self.inflight = 0
        """Calls sent and not yet answered."""
        self.not_before = 0.0
        """Monotonic time before which the upstream asked not to be called (Retry-After)."""
        self.proofs_withheld = 0
        """Provable answers it would not give the proof of (eth_getProof refused, ...)
        since it last gave one that checked: while above 0 it ranks after every upstream
        at 0 for provable calls (see the pool)."""
        self.chain_id: int | None = None
        """The chain id it answered (eth_chainId), once it has."""
        self.wrong_chain = False
        """It serves another chain than the node's (BIZRA_NETWORK_ID): out of service
        until it answers the node's chain id (see probe.py)."""
        self._ring = array("d", bytes(8 * _SAMPLES))
        self._n = 0
        self._p95: float | None = None
        self._p95_at = 0

    def observe(self, seconds: float) -> None:
        """One round trip (or a lower bound of one: a hedged call cancelled after
        ``seconds`` was at least that slow)."""
        n = self._n
        self.ewma = seconds if n == 0 else self.ewma + _ALPHA * (seconds - self.ewma)
        self._ring[n % _SAMPLES] = seconds
        self._n = n + 1

    def p95(self) -> float | None:
        """The 95th percentile of the recent round trips; None until enough samples."""
        n = self._n
        if n < _MIN_SAMPLES:
            return None
        if self._p95 is None or n - self._p95_at >= _P95_EVERY:
            samples = sorted(self._ring[:n] if n < _SAMPLES else self._ring)
            self._p95 = samples[min(int(0.95 * len(samples)), len(samples) - 1)]
            self._p95_at = n
        return self._p95

    def score(self) -> float:
        """Lower is healthier: recent latency, inflated by the recent failure rate and
        by the calls already waiting on it (so a burst spreads over the upstreams
        instead of piling onto the one that was fastest a moment ago). Half-open
        upstreams rank after closed ones (see the pool)."""
        return (max(self.ewma, _MIN_LATENCY) * (1.0 + 4.0 * self.breaker.failure_rate())
                * (1 + self.inflight))

    def available(self, now: float) -> bool:
        """Not serving another chain, not open (or due for a probe) and not inside a
        Retry-After pause."""
        if self.wrong_chain or now < self.not_before:
            return False
        return self.breaker.state is not State.OPEN or self.breaker.retry_in() <= 0

    def snapshot(self) -> dict[str, Any]:
        p95 = self.p95()
        out = self.breaker.snapshot()
        out["latencyMs"] = round(self.ewma * 1000, 3)
        out["p95Ms"] = round(p95 * 1000, 3) if p95 is not None else None
        out["inflight"] = self.inflight
        out["proofsWithheld"] = self.proofs_withheld
        out["chainId"] = self.chain_id
        wait = self.not_before - time.monotonic()
        if wait > 0:
            out["retryAfterSeconds"] = round(wait, 3)
        return out
