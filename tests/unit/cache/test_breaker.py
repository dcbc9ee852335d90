"""The L2 breaker: opens after consecutive failures, probes once after the reset."""

from __future__ import annotations

from bizra_node.cache import Breaker, Outcome, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_recovers_through_one_probe() -> None:
    clock = Clock()
    changes: list[State] = []
    b = Breaker(3, 5.0, clock=clock, on_change=changes.append)
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


def test_failed_probe_reopens() -> None:
    clock = Clock()
    b = Breaker(1, 2.0, clock=clock)
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


def test_released_probe_lets_another_through() -> None:
    clock = Clock()
    b = Breaker(1, 1.0, clock=clock)
    b.record(Outcome.FAILURE)
    clock.now += 1.0
    assert b.allow()
    b.release()  # the probe was cancelled: no verdict
    assert b.allow()


def test_failures_while_open_push_the_reset_back() -> None:
    clock = Clock()
    b = Breaker(1, 2.0, clock=clock)
    b.record(Outcome.FAILURE)
    clock.now += 1.5
    b.record(Outcome.FAILURE)  # a late failure of a call started before opening
    clock.now += 1.0
    assert not b.allow()
