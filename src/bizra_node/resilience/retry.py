"""The parts of the upstream pool's retry loop (chain/pool.py, which fails over between
upstreams and keeps each upstream's Retry-After pause in chain/health.py): the
backoff and a retry budget.

Backoff is exponential with *full* jitter (a uniform draw in [0, cap]) because
synchronised retries are what turns a blip into a storm. The budget keeps retries
below a share of recent traffic, with a small reserve so a quiet service can still
retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .window import RollingCounts

__all__ = ["Attempt", "RetryBudget", "Wait", "full_jitter"]

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


def full_jitter(initial: float, multiplier: float, cap: float,
                rng: Callable[[], float] = random.random) -> Wait:
    """Uniform in [0, min(cap, initial * multiplier ** (n - 1))] after attempt n."""
    def wait(attempt: Attempt) -> float:
        ceiling = min(cap, initial * multiplier ** (attempt.number - 1))
        return rng() * ceiling
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
