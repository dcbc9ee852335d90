"""A minimal circuit breaker for the Redis L2.

When Redis fails (down, slow, refusing), every lookup would otherwise wait for
the L2 timeout before going upstream. After ``failure_threshold`` consecutive
failures the breaker opens and L2 is skipped outright; after ``reset_timeout`` one
probe is let through (half-open): success closes it, failure opens it again.

Same shape as the node's upstream breaker (explicit ``State``/``Outcome``, the caller
classifies results), small on purpose so it can be swapped for
``resilience.CircuitBreaker`` without touching the L2 code around it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

__all__ = ["Breaker", "Outcome", "State"]


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"


class Breaker:
    __slots__ = ("_clock", "_failures", "_opened_at", "_probing", "failure_threshold",
                 "on_change", "reset_timeout", "state")

    def __init__(self, failure_threshold: int = 3, reset_timeout: float = 5.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[State], None] | None = None) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.state = State.CLOSED
        self.on_change = on_change
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    def allow(self) -> bool:
        """May a call go through now? (Half-open lets one probe at a time.)"""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.OPEN:
            if self._clock() - self._opened_at < self.reset_timeout:
                return False
            self._set(State.HALF_OPEN)
        if self._probing:
            return False
        self._probing = True
        return True

    def record(self, outcome: Outcome) -> None:
        if outcome is Outcome.SUCCESS:
            self._failures = 0
            self._probing = False
            if self.state is not State.CLOSED:
                self._set(State.CLOSED)
            return
        self._failures += 1
        self._probing = False
        if self.state is State.HALF_OPEN or (
                self.state is State.CLOSED and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self._set(State.OPEN)
        elif self.state is State.OPEN:
            self._opened_at = self._clock()

    def release(self) -> None:
        """A call that was let through ended without an outcome (cancelled)."""
        self._probing = False

    def _set(self, state: State) -> None:
        self.state = state
        if self.on_change is not None:
            self.on_change(state)
