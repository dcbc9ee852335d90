"""CircuitBreaker state machine, driven by a hand-moved clock (no sleeping)."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from bizra_node.resilience import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    Outcome,
    State,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**cfg: float) -> tuple[CircuitBreaker, Clock, list[tuple[State, State]]]:
    clock = Clock()
    events: list[tuple[State, State]] = []
    config = BreakerConfig(**{"failure_threshold": 5, "failure_rate": 50.0, "volume_threshold": 10,
                              "window": 60.0, "window_slots": 60, "reset_timeout": 30.0,
                              "half_open_probes": 2, **cfg})  # type: ignore[arg-type]
    b = CircuitBreaker("up", config, clock=clock,
                       listeners=[lambda br, old, new: events.append((old, new))])
    return b, clock, events


def run(b: CircuitBreaker, outcome: Outcome, n: int = 1) -> None:
    for _ in range(n):
        assert b.allow()
        b.record(outcome)


def test_consecutive_failures_open_it() -> None:
    b, _, events = make()
    run(b, Outcome.FAILURE, 4)
    assert b.state is State.CLOSED
    run(b, Outcome.SUCCESS)  # a success resets the streak
    run(b, Outcome.FAILURE, 4)
    assert b.state is State.CLOSED
    run(b, Outcome.TIMEOUT)
    assert b.state is State.OPEN
    assert events == [(State.CLOSED, State.OPEN)]
    assert (b.failures, b.timeouts, b.successes) == (9, 1, 1)


def test_failure_rate_opens_it_once_the_volume_is_met() -> None:
    b, _, _ = make(failure_threshold=100)
    for _ in range(4):  # 50 % failures but only 8 calls: under the volume threshold
        run(b, Outcome.SUCCESS)
        run(b, Outcome.FAILURE)
    assert b.state is State.CLOSED
    run(b, Outcome.SUCCESS)
    assert b.state is State.CLOSED  # 9 calls
    run(b, Outcome.FAILURE)  # 10 calls, 5 failed: 50 %
    assert b.state is State.OPEN


def test_old_failures_leave_the_window() -> None:
    b2, clock2, _ = make(failure_threshold=100)
    run(b2, Outcome.FAILURE, 4)
    clock2.now += 61  # those four are out of the window now
    run(b2, Outcome.SUCCESS, 5)
    run(b2, Outcome.FAILURE, 1)
    assert b2.state is State.CLOSED
    assert b2.failure_rate() == pytest.approx(1 / 6)


def test_open_rejects_fast_then_half_opens_after_the_reset_timeout() -> None:
    b, clock, events = make()
    run(b, Outcome.FAILURE, 5)
    assert not b.allow() and not b.allow()
    assert b.rejections == 2
    assert b.retry_in() == pytest.approx(30.0)
    clock.now += 30
    assert b.allow()  # the first probe
    assert b.state is State.HALF_OPEN
    assert b.allow()  # the second (half_open_probes=2)
    assert not b.allow()  # no more while both are out
    b.record(Outcome.SUCCESS)
    assert b.state is State.HALF_OPEN
    b.record(Outcome.SUCCESS)
    assert b.state is State.CLOSED
    assert events == [(State.CLOSED, State.OPEN), (State.OPEN, State.HALF_OPEN),
                      (State.HALF_OPEN, State.CLOSED)]
    assert b.transitions == 3


def test_a_failed_probe_opens_it_again() -> None:
    b, clock, _ = make()
    run(b, Outcome.FAILURE, 5)
    clock.now += 30
    assert b.allow()
    b.record(Outcome.FAILURE)
    assert b.state is State.OPEN
    assert not b.allow()
    clock.now += 29.9
    assert not b.allow()


def test_an_ignored_probe_gives_its_slot_back() -> None:
    b, clock, _ = make(half_open_probes=1)
    run(b, Outcome.FAILURE, 5)
    clock.now += 30
    assert b.allow()
    assert not b.allow()
    b.record(Outcome.IGNORED)
    assert b.state is State.HALF_OPEN
    assert b.allow()
    b.record(Outcome.SUCCESS)
    assert b.state is State.CLOSED


def test_closing_starts_a_fresh_window() -> None:
    b, clock, _ = make(failure_threshold=100, half_open_probes=1)
    run(b, Outcome.FAILURE, 10)
    assert b.state is State.OPEN
    clock.now += 30
    run(b, Outcome.SUCCESS)
    assert b.state is State.CLOSED
    assert b.failure_rate() == 0.0


def test_snapshot_and_force() -> None:
    b, _, _ = make()
    run(b, Outcome.SUCCESS, 3)
    run(b, Outcome.TIMEOUT)
    snap = b.snapshot()
    assert snap["state"] == "closed"
    assert (snap["requests"], snap["failures"], snap["timeouts"], snap["successes"]) == (4, 1, 1, 3)
    assert snap["windowFailureRate"] == 25.0
    b.force(State.OPEN)
    assert b.snapshot()["state"] == "open"
    assert not b.allow()
    assert b.snapshot()["rejections"] == 1


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        BreakerConfig(failure_rate=0)
    with pytest.raises(ValueError):
        BreakerConfig(half_open_probes=0)
    with pytest.raises(ValueError):
        BreakerConfig(reset_timeout=0)


async def test_call_classifies_and_rejects() -> None:
    b, _, _ = make(failure_threshold=2)

    async def ok() -> int:
        return 7

    async def boom() -> None:
        raise RuntimeError("no")

    async def slow() -> None:
        raise TimeoutError

    assert await b.call(ok) == 7
    with pytest.raises(RuntimeError):
        await b.call(boom)
    with pytest.raises(TimeoutError):
        await b.call(slow)
    assert b.state is State.OPEN and b.timeouts == 1
    with pytest.raises(CircuitOpenError):
        await b.call(ok)


async def test_call_cancelled_counts_nothing() -> None:
    b, _, _ = make()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(b.call(forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (b.requests, b.failures, b.successes) == (1, 0, 0)


def test_no_memory_growth_over_100k_calls() -> None:
    b, clock, _ = make(failure_threshold=10**9, failure_rate=100.0)
    for i in range(2000):
        clock.now += 0.05
        run(b, Outcome.FAILURE if i % 3 == 0 else Outcome.SUCCESS)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(100_000):
        clock.now += 0.001
        if b.allow():
            b.record(Outcome.FAILURE if i % 3 == 0 else Outcome.SUCCESS)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if "resilience" in str(s.traceback))
    assert grown < 1024  # a few retained ints at most; per-call growth would be >= 100 KB
