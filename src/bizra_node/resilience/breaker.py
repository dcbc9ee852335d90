"""Circuit breaker: an explicit state machine over a rolling ring-buffer window.

The breaker does not run anything and does not classify anything: the caller asks
``allow()`` before a call and reports what happened with ``record(Outcome)``. That
keeps it policy-free (the chain layer decides that a timeout is a TIMEOUT and a
caller's bad input is IGNORED) and cheap: both operations are O(1) and touch only
preallocated state (see ``window.RollingCounts``).

Transitions:

* CLOSED -> OPEN when ``failure_threshold`` failures come in a row, or when the
  window holds at least ``volume_threshold`` calls and ``failure_rate`` % of them
  failed (timeouts count as failures).
* OPEN -> HALF_OPEN on the first ``allow()`` after ``reset_timeout``.
* HALF_OPEN lets ``half_open_probes`` calls through at a time; as many successes in
  a row close it (with a fresh window); any failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, TypeVar

from .window import RollingCounts

__all__ = ["BreakerConfig", "CircuitBreaker", "CircuitOpenError", "Listener", "Outcome", "State"]

T = TypeVar("T")

_OK = 0
_FAIL = 1


class State(IntEnum):
    """Values are what the ``circuit_breaker_state`` gauge exports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Outcome(Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    IGNORED = "ignored"
    """Neither success nor failure (cancelled, the caller's own bad input): counts
    nothing, but gives back a half-open probe slot."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 5
    failure_rate: float = 50.0
    volume_threshold: int = 10
    window: float = 60.0
    window_slots: int = 100
    reset_timeout: float = 30.0
    half_open_probes: int = 3

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.volume_threshold < 1 or self.half_open_probes < 1:
            raise ValueError("thresholds and probes must be >= 1")
        if not 0 < self.failure_rate <= 100:
            raise ValueError("failure_rate is a percentage in (0, 100]")
        if self.window <= 0 or self.reset_timeout <= 0 or self.window_slots < 1:
            raise ValueError("window, window_slots and reset_timeout must be positive")


Listener = Callable[["CircuitBreaker", State, State], None]
"""Called as listener(breaker, old_state, new_state) on every transition."""


class CircuitOpenError(Exception):
    """Raised by :meth:`CircuitBreaker.call` when the breaker rejects the call."""

    def __init__(self, name: str) -> None:
        super().__init__(f"circuit breaker {name!r} is open")
        self.name = name


class CircuitBreaker:
    __slots__ = ("_clock", "_config", "_consecutive", "_listeners", "_opened_at",
                 "_probe_successes", "_probes", "_state", "_window", "failures", "name",
                 "rejections", "requests", "successes", "timeouts", "transitions")

    def __init__(self, name: str, config: BreakerConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 listeners: tuple[Listener, ...] | list[Listener] = ()) -> None:
        self.name = name
        self._config = cfg = config or BreakerConfig()
        self._clock = clock
        self._listeners = list(listeners)
        self._window = RollingCounts(cfg.window, cfg.window_slots, 2)
        self._state = State.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probes = 0
        self._probe_successes = 0
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self.timeouts = 0
        self.rejections = 0
        self.transitions = 0

    # --- the hot path ---------------------------------------------------------------
    def allow(self) -> bool:
        """May a call go through now? Counts a request or a rejection."""
        state = self._state
        if state is State.CLOSED:
            self.requests += 1
            return True
        if state is State.OPEN:
            now = self._clock()
            if now - self._opened_at < self._config.reset_timeout:
                self.rejections += 1
                return False
            self._move(State.HALF_OPEN, now)
        if self._probes < self._config.half_open_probes:
            self._probes += 1
            self.requests += 1
            return True
        self.rejections += 1
        return False

    def reject(self) -> None:
        """Count a call the caller skipped itself on seeing ``state`` OPEN (a router
        choosing among breakers checks state first and calls ``allow`` only on the
        one it picks)."""
        self.rejections += 1

    def record(self, outcome: Outcome) -> None:
        """Report the outcome of a call that ``allow()`` let through."""
        state = self._state
        if outcome is Outcome.IGNORED:
            if state is State.HALF_OPEN and self._probes > 0:
                self._probes -= 1
            return
        now = self._clock()
        if outcome is Outcome.SUCCESS:
            self.successes += 1
            self._consecutive = 0
            self._window.add(_OK, now)
            if state is State.HALF_OPEN:
                self._probe_successes += 1
                if self._probes > 0:
                    self._probes -= 1
                if self._probe_successes >= self._config.half_open_probes:
                    self._move(State.CLOSED, now)
            return
        self.failures += 1
        if outcome is Outcome.TIMEOUT:
            self.timeouts += 1
        self._consecutive += 1
        self._window.add(_FAIL, now)
        if state is State.HALF_OPEN or (state is State.CLOSED and self._should_open(now)):
            self._move(State.OPEN, now)

    # --- state machine --------------------------------------------------------------
    def _should_open(self, now: float) -> bool:
        cfg = self._config
        if self._consecutive >= cfg.failure_threshold:
            return True
        window = self._window
        failed = window.total(_FAIL, now)
        total = failed + window.total(_OK, now)
        return total >= cfg.volume_threshold and failed * 100 >= cfg.failure_rate * total

    def _move(self, new: State, now: float) -> None:
        old = self._state
        if new is old:
            return
        self._state = new
        self.transitions += 1
        self._probes = 0
        self._probe_successes = 0
        if new is State.OPEN:
            self._opened_at = now
        elif new is State.CLOSED:
            self._consecutive = 0
            self._window.clear()
        for listener in self._listeners:
            listener(self, old, new)

    def force(self, state: State) -> None:
        """Operator override (and tests): move to ``state`` now."""
        self._move(state, self._clock())

    # --- introspection --------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def config(self) -> BreakerConfig:
        return self._config

    def failure_rate(self) -> float:
        """Share of failed calls in the rolling window, 0.0-1.0."""
        now = self._clock()
        failed = self._window.total(_FAIL, now)
        total = failed + self._window.total(_OK, now)
        return failed / total if total else 0.0

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not State.OPEN:
            return 0.0
        return max(self._opened_at + self._config.reset_timeout - self._clock(), 0.0)

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        failed = self._window.total(_FAIL, now)
        total = failed + self._window.total(_OK, now)
        return {"state": self._state.name.lower(), "requests": self.requests,
                "successes": self.successes, "failures": self.failures,
                "timeouts": self.timeouts, "rejections": self.rejections,
                "transitions": self.transitions, "windowCalls": total,
                "windowFailureRate": round(100.0 * failed / total, 2) if total else 0.0,
                "retryInSeconds": round(self.retry_in(), 3)}

    # --- convenience ----------------------------------------------------------------
    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` under the breaker: any exception is a failure,
        TimeoutError a timeout, cancellation is ignored. Raises CircuitOpenError
        when rejected. (The chain layer uses allow/record with its own classes.)"""
        if not self.allow():
            raise CircuitOpenError(self.name)
        try:
            result = await fn(*args)
        except TimeoutError:
            self.record(Outcome.TIMEOUT)
            raise
        except Exception:
            self.record(Outcome.FAILURE)
            raise
        except BaseException:
            self.record(Outcome.IGNORED)
            raise
        self.record(Outcome.SUCCESS)
        return result
