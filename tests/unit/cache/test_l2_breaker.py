"""The L2's breaker: resilience.CircuitBreaker with l2_breaker_config (consecutive
failures open it, one probe at a time after the reset, one success closes it)."""

from __future__ import annotations

import random

import pytest

from bizra_node.app import cache_config
from bizra_node.cache import RedisL2, TieredCache, l2_breaker_config
from bizra_node.observability import NodeMetrics
from bizra_node.resilience import CircuitBreaker, Outcome, State
from tests.conftest import make_settings, tuned


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(failures: int, reset: float) -> tuple[CircuitBreaker, Clock, list[State]]:
    clock = Clock()
    changes: list[State] = []
    b = CircuitBreaker("redis", l2_breaker_config(failures, reset), clock=clock,
                       listeners=[lambda _b, _old, new: changes.append(new)])
    return b, clock, changes


def test_opens_after_threshold_and_recovers_through_one_probe() -> None:
    b, clock, changes = make(3, 5.0)
    for _ in range(2):
        assert b.allow()
        b.record(Outcome.FAILURE)
    assert b.state is State.CLOSED
    b.record(Outcome.SUCCESS)  # success resets the count
    for _ in range(3):
        b.record(Outcome.FAILURE)
    assert b.state is State.OPEN and not b.allow()
    clock.now += 5.0
    assert b.allow() and b.state is State.HALF_OPEN
    assert not b.allow()  # one probe at a time
    b.record(Outcome.SUCCESS)
    assert b.state is State.CLOSED and b.allow()
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_failed_probe_reopens_for_another_reset_timeout() -> None:
    b, clock, _ = make(1, 2.0)
    b.record(Outcome.FAILURE)
    assert b.state is State.OPEN
    clock.now += 2.0
    assert b.allow()
    b.record(Outcome.FAILURE)
    assert b.state is State.OPEN and not b.allow()
    clock.now += 1.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow()


def test_cancelled_probe_lets_another_through() -> None:
    b, clock, _ = make(1, 1.0)
    b.record(Outcome.FAILURE)
    clock.now += 1.0
    assert b.allow()
    b.record(Outcome.IGNORED)  # what RedisL2 reports for a cancelled call
    assert b.allow()


def test_only_consecutive_failures_open_it() -> None:
    """The failure-rate rule never fires first: random outcomes over a moving clock
    open the breaker exactly when the consecutive count reaches the threshold."""
    rng = random.Random(7)
    for failures in (1, 2, 3, 5):
        b, clock, _ = make(failures, 5.0)
        run = 0
        for _ in range(5000):
            clock.now += rng.choice((0.0, 0.01, 0.5, 3.0))
            if b.state is not State.CLOSED:
                b.force(State.CLOSED)
                run = 0
            failed = rng.random() < 0.7
            b.record(Outcome.FAILURE if failed else Outcome.SUCCESS)
            run = run + 1 if failed else 0
            assert (b.state is State.OPEN) == (run >= failures)


def test_calls_finishing_after_it_opened_do_not_move_it() -> None:
    """Late outcomes of calls started while closed (at most L2_TIMEOUT after opening)
    neither close it nor push the reset back: the probe comes ``reset`` after opening."""
    b, clock, _ = make(1, 2.0)
    b.record(Outcome.FAILURE)
    clock.now += 0.5
    b.record(Outcome.SUCCESS)
    b.record(Outcome.FAILURE)
    assert b.state is State.OPEN
    clock.now += 1.5
    assert b.allow() and b.state is State.HALF_OPEN


def test_tiered_cache_wires_its_constants_into_the_l2_breaker() -> None:
    settings = make_settings("http://127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    cache = TieredCache(cache_config(settings, tuned(l2_breaker_failures=4,
                                                     l2_breaker_reset=7.5)), NodeMetrics())
    assert cache.l2 is not None
    config = cache.l2.breaker.config
    assert (config.failure_threshold, config.reset_timeout, config.half_open_probes) == (4, 7.5, 1)
    assert cache.l2.breaker_state == "closed"
    assert cache.stats()["l2"]["breaker"] == "closed"


@pytest.mark.parametrize(("state", "name"), [(State.CLOSED, "closed"), (State.OPEN, "open"),
                                             (State.HALF_OPEN, "half_open")])
def test_state_is_reported_as_a_string(state: State, name: str) -> None:
    l2 = RedisL2("redis://127.0.0.1:1/0", timeout=0.05, metrics=NodeMetrics(),
                 breaker=CircuitBreaker("redis", l2_breaker_config(1, 1.0)))
    l2.breaker.force(state)
    assert l2.breaker_state == name
