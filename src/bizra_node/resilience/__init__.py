"""Pure resilience mechanisms (no I/O): circuit breaker, retry backoff and budget,
deadlines, rolling windows. Policy (what counts as a failure, when to fail over)
lives with the callers in chain/ and cache/."""

from __future__ import annotations

from .breaker import BreakerConfig, CircuitBreaker, CircuitOpenError, Listener, Outcome, State
from .deadline import (
    Deadline,
    current_deadline,
    deadline_scope,
    enter_deadline,
    exit_deadline,
    with_timeout,
)
from .periodic import Periodic, cancel_and_wait
from .retry import Attempt, RetryBudget, full_jitter
from .singleflight import SingleFlight
from .window import RollingCounts

__all__ = [
    "Attempt",
    "BreakerConfig",
    "CircuitBreaker",
    "CircuitOpenError",
    "Deadline",
    "Listener",
    "Outcome",
    "Periodic",
    "RetryBudget",
    "RollingCounts",
    "SingleFlight",
    "State",
    "cancel_and_wait",
    "current_deadline",
    "deadline_scope",
    "enter_deadline",
    "exit_deadline",
    "full_jitter",
    "with_timeout",
]
