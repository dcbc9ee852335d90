"""The restart rule: at once, then a growing delay while a slot keeps dying young,
capped, never giving up; a slot that lived long starts over."""

from __future__ import annotations

from bizra_node.server import Backoff, RestartSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_delays_grow_from_immediate_to_the_cap() -> None:
    backoff = Backoff(first=0.5, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 10)] == [0, 0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_slot_that_keeps_dying_is_always_rescheduled() -> None:
    clock = Clock()
    schedule = RestartSchedule(Backoff(first=0.5, cap=4.0, stable_after=30.0), clock)
    delays = []
    for _ in range(50):  # granian gives up at the second death within 5.5 s
        delays.append(schedule.died(0, lived=0.1))
        assert schedule.wait_time() == delays[-1]
        clock.now += delays[-1]
        assert schedule.pop_due() == [0]
        assert schedule.wait_time() is None
    assert delays[:5] == [0, 0.5, 1, 2, 4] and set(delays[5:]) == {4.0}


def test_a_long_life_starts_a_new_streak() -> None:
    clock = Clock()
    schedule = RestartSchedule(Backoff(first=0.5, cap=30.0, stable_after=30.0), clock)
    assert schedule.died(0, lived=1) == 0
    assert schedule.died(0, lived=1) == 0.5
    assert schedule.died(0, lived=1) == 1
    assert schedule.died(0, lived=31) == 0 and schedule.streaks[0] == 1


def test_slots_are_independent_and_due_in_order() -> None:
    clock = Clock()
    schedule = RestartSchedule(Backoff(first=2.0), clock)
    schedule.died(1, lived=0)
    schedule.died(1, lived=0)  # slot 1: due in 2 s
    schedule.died(0, lived=0)  # slot 0: due now
    assert schedule.pop_due() == [0]
    assert schedule.wait_time() == 2.0
    clock.now += 1
    assert schedule.pop_due() == []
    clock.now += 1
    assert schedule.pop_due() == [1]


def test_a_cancelled_slot_is_not_restarted_again() -> None:
    clock = Clock()
    schedule = RestartSchedule(Backoff(first=1.0), clock)
    schedule.died(0, lived=0)
    schedule.died(0, lived=0)
    schedule.cancel(0)
    clock.now += 10
    assert schedule.pop_due() == [] and schedule.wait_time() is None
