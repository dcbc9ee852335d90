"""Retry as small callables over an attempt state, plus a retry budget.

``wait`` says how long to sleep before the next attempt, ``stop`` says whether to
give up, ``retry_if`` says whether an error is worth another try; a
:class:`RetryPolicy` bundles the three. ``retrying`` runs a coroutine function
under a policy, a :class:`~.deadline.Deadline` and a :class:`RetryBudget`; the chain
layer drives its own loop (it fails over between upstreams) with the same parts.

Backoff is exponential with *full* jitter (a uniform draw in [0, cap]) because
synchronised retries are what turns a blip into a storm. A server's Retry-After is
a floor on the wait. The budget keeps retries below a share of recent traffic, with
a small reserve so a quiet service can still retry.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .deadline import Deadline
from .window import RollingCounts

__all__ = [
    "Attempt",
    "RetryBudget",
    "RetryIf",
    "RetryPolicy",
    "Stop",
    "Wait",
    "full_jitter",
    "honour_retry_after",
    "retrying",
    "stop_after_attempt",
]

T = TypeVar("T")


@dataclass(slots=True)
class Attempt:
    """What the policy knows after an attempt failed."""

    number: int
    """1 for the first attempt."""
    error: BaseException | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait (HTTP Retry-After), if it did."""


Wait = Callable[[Attempt], float]
Stop = Callable[[Attempt], bool]
RetryIf = Callable[[BaseException], bool]


def full_jitter(initial: float, multiplier: float, cap: float,
                rng: Callable[[], float] = random.random) -> Wait:
    """Uniform in [0, min(cap, initial * multiplier ** (n - 1))] after attempt n."""
    def wait(attempt: Attempt) -> float:
        ceiling = min(cap, initial * multiplier ** (attempt.number - 1))
        return rng() * ceiling
    return wait


def honour_retry_after(inner: Wait) -> Wait:
    """Never wait less than the server's Retry-After."""
    def wait(attempt: Attempt) -> float:
        base = inner(attempt)
        return base if attempt.retry_after is None else max(base, attempt.retry_after)
    return wait


def stop_after_attempt(attempts: int) -> Stop:
    def stop(attempt: Attempt) -> bool:
        return attempt.number >= attempts
    return stop


def _always(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", isinstance(exc, (TimeoutError, ConnectionError))))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    stop: Stop
    wait: Wait
    retry_if: RetryIf = _always

    @classmethod
    def exponential(cls, attempts: int = 3, initial: float = 0.1, multiplier: float = 2.0,
                    cap: float = 2.0, retry_if: RetryIf = _always,
                    rng: Callable[[], float] = random.random) -> RetryPolicy:
        """The default: 3 attempts, 100 ms, x2, 2 s cap, full jitter,
        Retry-After honoured."""
        return cls(stop_after_attempt(attempts),
                   honour_retry_after(full_jitter(initial, multiplier, cap, rng)), retry_if)

    def delay(self, attempt: Attempt, deadline: Deadline | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (not
        retryable, attempts used up, or the wait would cross the deadline)."""
        if attempt.error is not None and not self.retry_if(attempt.error):
            return None
        if self.stop(attempt):
            return None
        wait = self.wait(attempt)
        if deadline is not None and wait >= deadline.remaining():
            return None
        return wait


_REQ = 0
_RETRY = 1


class RetryBudget:
    """Retries allowed over the last ``window`` seconds:
    ``min_per_second * window + ratio * requests``. ``ratio=0.1`` keeps a storm's
    retries near 10 % of traffic once traffic dwarfs the reserve."""

    __slots__ = ("_clock", "_counts", "_reserve", "exhausted", "ratio")

    def __init__(self, ratio: float = 0.1, min_per_second: float = 10.0, window: float = 10.0,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        if ratio < 0 or min_per_second < 0 or window <= 0:
            raise ValueError("ratio and min_per_second >= 0, window > 0")
        self.ratio = ratio
        self._reserve = min_per_second * window
        self._counts = RollingCounts(window, 10, 2)
        self._clock = clock
        self.exhausted = 0
        """Retries refused so far."""

    def on_request(self) -> None:
        """Count one first attempt (a deposit)."""
        self._counts.add(_REQ, self._clock())

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and counted) when none is left."""
        now = self._clock()
        counts = self._counts
        if counts.total(_RETRY, now) < self._reserve + self.ratio * counts.total(_REQ, now):
            counts.add(_RETRY, now)
            return True
        self.exhausted += 1
        return False

    def refund(self) -> None:
        """Give back a retry taken with ``try_spend`` that was not sent after all."""
        self._counts.add(_RETRY, self._clock(), -1)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        return {"requests": self._counts.total(_REQ, now), "retries": self._counts.total(_RETRY, now),
                "exhausted": self.exhausted}


async def retrying(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, *,
                   deadline: Deadline | None = None, budget: RetryBudget | None = None) -> T:
    """Run ``fn`` until it succeeds or the policy, deadline or budget says stop; the
    last error is raised. Each attempt runs under the deadline (no timer left
    behind: ``asyncio.timeout_at`` cancels its handle on exit)."""
    if budget is not None:
        budget.on_request()
    number = 0
    while True:
        number += 1
        try:
            if deadline is None:
                return await fn()
            async with deadline.scope():
                return await fn()
        except Exception as exc:
            delay = policy.delay(Attempt(number, exc, getattr(exc, "retry_after", None)), deadline)
            if delay is None or (budget is not None and not budget.try_spend()):
                raise
        await asyncio.sleep(delay)
