"""Cluster-wide rate limits that cost the hit path no Redis round trip.

Every caller (a key, or an address for anonymous callers) has one allowance in
Redis, spent by every worker of every node through the GCRA script (gcra.TAKE). A
worker does not ask Redis for each request: it *leases* a few units at a time
(``lease``: about ``LEASE_SECONDS`` of the caller's rate, at most a ``LEASE_SHARE``-th
of its burst) and spends them locally with a dict lookup and a subtraction
(:meth:`RateLimiter.check_now`, synchronous). When a lease runs low a refill is
started in the background, so a steady caller's requests never wait; a caller the
worker has no lease for (its first request, or one after the lease ran out) waits
for one Redis round trip (:meth:`check`, on the full path). Units are taken from
the shared allowance when leased, so two nodes never grant more than it holds: a
node that leased units and did not use them gives them back after
``IDLE_SECONDS`` (``GIVE_BACK``); until then they are lost to the others, which is
the price of never waiting (at most one lease per caller per worker).

A refusal from Redis is remembered until the time Redis said to wait, so a caller
over its limit is refused locally, without a Redis call per refused request.

Redis unreachable (its breaker open, or no REDIS_URL): ``on_redis_down`` decides:
``local`` applies the policy in each worker (divided by the node's worker count),
``open`` lets everything through, ``closed`` refuses (a 503 with Retry-After); an
upkeep task probes Redis every ``PROBE_SECONDS`` and the shared limits resume when
it answers. ``status()`` says which mode holds (readiness).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from ..observability import NodeMetrics
from ..resilience import BreakerConfig, CircuitBreaker, Outcome, Periodic, State
from .gcra import GIVE_BACK, TAKE, LocalGcra, Policy

__all__ = ["DEFER", "Deferred", "LimiterConfig", "Mode", "RateLimiter", "Refusal"]

log = logging.getLogger("bizra_node.security")

LEASE_SECONDS: Final = 0.1
LEASE_SHARE: Final = 8
IDLE_SECONDS: Final = 2.0
PROBE_SECONDS: Final = 1.0

OnRedisDown = Literal["local", "open", "closed"]
RedisClient = aioredis.Redis | RedisCluster
"""A client made by cache.connect_redis (standalone, Sentinel or Cluster): each script
call names one key, so every topology serves it."""
_GIVE_BACK_AT_ONCE = 64


class Mode(Enum):
    CLUSTER = "cluster"
    """Shared limits through Redis."""
    LOCAL = "local"
    """Per-worker limits (Redis down, or none configured)."""
    OPEN = "open"
    """No limits (Redis down and RATE_LIMIT_ON_REDIS_DOWN=open)."""
    CLOSED = "closed"
    """Everything limited is refused (Redis down and RATE_LIMIT_ON_REDIS_DOWN=closed)."""


@dataclass(frozen=True, slots=True)
class LimiterConfig:
    key_prefix: str = "bizra"
    timeout: float = 0.05
    """One Redis call, s (the full path waits this long at most for a lease)."""
    on_redis_down: OnRedisDown = "local"
    workers: int = 1
    """Workers of this node: the per-worker fallback divides each policy by this."""
    max_callers: int = 100_000
    """Callers one worker keeps leases (or local state) for."""
    breaker_failures: int = 3
    breaker_reset: float = PROBE_SECONDS

    def __post_init__(self) -> None:
        if self.on_redis_down not in ("local", "open", "closed"):
            raise ValueError("on_redis_down must be local, open or closed")
        if self.timeout <= 0 or self.workers < 1 or self.max_callers < 1:
            raise ValueError("timeout, workers and max_callers must be positive")


class Refusal:
    """Why a request may not go on now."""

    __slots__ = ("policy", "reason", "retry_after")

    def __init__(self, policy: Policy, retry_after: float, reason: str = "rate_limited") -> None:
        self.policy = policy
        self.retry_after = retry_after
        """Seconds until the request's cost fits (inf: never, it exceeds the burst)."""
        self.reason = reason
        """rate_limited, cost_exceeds_burst or limiter_unavailable."""


class Deferred(Enum):
    """The third answer of a synchronous check, beside "allowed" (None) and a refusal."""

    DEFER = "DEFER"
    """``check_now`` cannot decide without awaiting Redis: take the full path."""


DEFER: Final = Deferred.DEFER


class _Lease:
    __slots__ = ("denied_until", "key", "low", "policy", "refill", "size", "tokens", "used")

    def __init__(self, key: str, policy: Policy) -> None:
        self.key = key
        self.policy = policy
        self.tokens = 0
        self.size = max(1, min(math.ceil(policy.rate * LEASE_SECONDS), policy.burst // LEASE_SHARE))
        self.low = self.size // 2
        self.denied_until = 0.0
        self.refill: asyncio.Task[None] | None = None
        self.used = True


class RateLimiter:
    def __init__(self, config: LimiterConfig, metrics: NodeMetrics,
                 redis: RedisClient | None = None) -> None:
        self.config = config
        self._metrics = metrics
        self._redis = redis
        metrics.rate_limited.preset(("anonymous",), ("key",), ("unavailable",))
        self._leases: dict[str, _Lease] = {}
        self._local = LocalGcra(config.max_callers)
        self._local_policies: dict[Policy, Policy] = {}
        self.breaker = CircuitBreaker("rate-limit-redis", BreakerConfig(
            failure_threshold=config.breaker_failures, failure_rate=100.0,
            volume_threshold=config.breaker_failures, reset_timeout=config.breaker_reset,
            half_open_probes=1))
        self._take = redis.register_script(TAKE) if redis is not None else None
        self._give_back = redis.register_script(GIVE_BACK) if redis is not None else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._upkeep = Periodic("rate-limit-upkeep", self._maintain, PROBE_SECONDS, logger=log)
        self._was_down = False

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._upkeep.start()

    async def stop(self) -> None:
        await self._upkeep.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await self._return_leases(list(self._leases.values()))
        self._leases.clear()

    @property
    def mode(self) -> Mode:
        if self._redis is not None and self.breaker.state is State.CLOSED:
            return Mode.CLUSTER
        return Mode(self.config.on_redis_down) if self._redis is not None else Mode.LOCAL

    def status(self) -> dict[str, Any]:
        """Readiness: the mode, Redis's state; not ok only when refusing (closed)."""
        mode = self.mode
        redis = "none" if self._redis is None else (
            "up" if self.breaker.state is State.CLOSED else "down")
        return {"ok": mode is not Mode.CLOSED, "mode": mode.value, "redis": redis,
                "onRedisDown": self.config.on_redis_down, "callers": len(self._leases)}

    # --- the hot path ------------------------------------------------------------------
    def check_now(self, caller: str, policy: Policy, cost: int) -> Refusal | Deferred | None:
        """None: allowed (and spent); a Refusal; or DEFER (await :meth:`check`)."""
        lease = self._leases.get(caller)
        if lease is None or lease.policy is not policy:
            if self._redis is not None and self.breaker.state is State.CLOSED:
                return DEFER
            return self._fallback(caller, policy, cost)
        lease.used = True
        if lease.tokens >= cost:
            lease.tokens -= cost
            if lease.tokens <= lease.low and lease.refill is None \
                    and self.breaker.state is State.CLOSED:
                self._start_refill(lease, 1)
            return None
        return self._short(lease, caller, cost)

    async def check(self, caller: str, policy: Policy, cost: int) -> Refusal | None:
        """The decision, waiting for a lease from Redis when needed."""
        verdict = self.check_now(caller, policy, cost)
        if verdict is not DEFER:
            return verdict
        if cost > policy.burst:
            return Refusal(policy, math.inf, "cost_exceeds_burst")
        lease = self._leases.get(caller)
        if lease is None or lease.policy is not policy:
            lease = self._new_lease(caller, policy)
        for _ in range(3):
            refill = lease.refill
            if refill is None:
                refill = self._start_refill(lease, max(cost - lease.tokens, 1))
            await asyncio.shield(refill)  # a caller going away never cancels a shared refill
            if lease.tokens >= cost:
                lease.tokens -= cost
                return None
            verdict = self._short(lease, caller, cost)
            if verdict is not DEFER:
                return verdict
        return self._fallback(caller, policy, cost)

    def _short(self, lease: _Lease, caller: str, cost: int) -> Refusal | Deferred | None:
        """The lease does not cover ``cost``: refuse if Redis said so lately, fall
        back if Redis is down, else DEFER."""
        if self.breaker.state is not State.CLOSED:
            return self._fallback(caller, lease.policy, cost)
        if cost > lease.policy.burst:
            return Refusal(lease.policy, math.inf, "cost_exceeds_burst")
        if lease.denied_until:
            now = time.monotonic()
            if lease.denied_until > now:
                self._metrics.rate_limited.inc((lease.policy.name,))
                return Refusal(lease.policy, lease.denied_until - now)
            lease.denied_until = 0.0
        return DEFER

    def _fallback(self, caller: str, policy: Policy, cost: int) -> Refusal | None:
        mode = self.config.on_redis_down if self._redis is not None else "local"
        if mode == "open":
            return None
        if mode == "closed":
            self._metrics.rate_limited.inc(("unavailable",))
            return Refusal(policy, max(self.breaker.retry_in(), 1.0), "limiter_unavailable")
        local = self._local_policies.get(policy)
        if local is None:
            local = self._local_policies[policy] = policy.scaled(self.config.workers)
        if cost > local.burst:
            return Refusal(policy, math.inf, "cost_exceeds_burst")
        wait = self._local.take(caller, local, cost, time.monotonic())
        if wait:
            self._metrics.rate_limited.inc((policy.name,))
            return Refusal(policy, wait)
        return None

    # --- leases ------------------------------------------------------------------------
    def _new_lease(self, caller: str, policy: Policy) -> _Lease:
        leases = self._leases
        if caller not in leases and len(leases) >= self.config.max_callers:
            for old in list(leases)[: len(leases) // 4]:  # the oldest quarter goes
                gone = leases.pop(old)
                if gone.refill is not None:
                    gone.refill.cancel()
        lease = leases[caller] = _Lease(f"{self.config.key_prefix}:rl:{caller}", policy)
        return lease

    def _start_refill(self, lease: _Lease, need: int) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            self._refill(lease, need, max(need, lease.size)))
        lease.refill = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _refill(self, lease: _Lease, need: int, want: int) -> None:
        assert self._take is not None
        policy = lease.policy
        try:
            if not self.breaker.allow():
                return
            try:
                async with asyncio.timeout(self.config.timeout):
                    reply = await self._take(keys=[lease.key], args=[
                        policy.interval_us, policy.burst, need, want])
            except asyncio.CancelledError:
                self.breaker.record(Outcome.IGNORED)
                raise
            except Exception as exc:
                self._failed(exc)
                return
            self.breaker.record(Outcome.SUCCESS)
            self._metrics.rate_limit_redis.inc(("take", "ok"))
            granted, _, wait_us = int(reply[0]), int(reply[1]), int(reply[2])
            if granted:
                lease.tokens += granted
                lease.denied_until = 0.0
            elif wait_us > 0:
                lease.denied_until = time.monotonic() + wait_us / 1e6
        finally:
            lease.refill = None

    def _failed(self, exc: BaseException) -> None:
        self._metrics.rate_limit_redis.inc(("take", "error"))
        before = self.breaker.state
        self.breaker.record(Outcome.FAILURE)
        if before is not State.OPEN and self.breaker.state is State.OPEN:
            log.warning("rate-limit Redis unreachable (%s): limits are now %s",
                        type(exc).__name__, self.config.on_redis_down)

    # --- upkeep ------------------------------------------------------------------------
    async def _maintain(self) -> None:
        """Probe Redis when it is down; give back idle leases; forget idle callers."""
        if self._redis is not None and self.breaker.state is not State.CLOSED:
            await self._probe()
        idle = []
        for caller, lease in list(self._leases.items()):
            if lease.used or lease.refill is not None:
                lease.used = False
            else:
                idle.append(lease)
                del self._leases[caller]
        if idle and self.breaker.state is State.CLOSED:
            await self._return_leases(idle)
        self._local.sweep(time.monotonic())
        self._metrics.rate_limit_mode.set(_MODE_GAUGE[self.mode])

    async def _probe(self) -> None:
        assert self._redis is not None
        if not self.breaker.allow():
            return
        try:
            async with asyncio.timeout(max(self.config.timeout, 0.5)):
                await self._redis.ping()
        except Exception:
            self.breaker.record(Outcome.FAILURE)
            return
        self.breaker.record(Outcome.SUCCESS)
        if self.breaker.state is State.CLOSED:
            log.warning("rate-limit Redis reachable again: limits are shared again")
            self._leases.clear()  # leases and refusals from before the outage are stale

    async def _return_leases(self, leases: list[_Lease]) -> None:
        back = [lease for lease in leases if lease.tokens > 0]
        if not back or self._redis is None or self._give_back is None:
            return
        give_back = self._give_back
        try:
            async with asyncio.timeout(max(self.config.timeout * 4, 0.2)):
                for i in range(0, len(back), _GIVE_BACK_AT_ONCE):  # one key per call: any topology
                    await asyncio.gather(*(
                        give_back(keys=[lease.key], args=[lease.policy.interval_us, lease.tokens])
                        for lease in back[i:i + _GIVE_BACK_AT_ONCE]))
            self._metrics.rate_limit_redis.inc(("give_back", "ok"))
        except Exception:  # the units come back by themselves as time passes
            self._metrics.rate_limit_redis.inc(("give_back", "error"))
        for lease in back:
            lease.tokens = 0


_MODE_GAUGE = {Mode.CLUSTER: 0, Mode.LOCAL: 1, Mode.OPEN: 2, Mode.CLOSED: 3}
