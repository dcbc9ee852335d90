"""Deadlines and timeouts: the tighter deadline wins, nothing is left behind."""

from __future__ import annotations

import asyncio

import pytest

from bizra_node.resilience import (
    Deadline,
    current_deadline,
    deadline_scope,
    enter_deadline,
    exit_deadline,
    with_timeout,
)


def test_remaining_cap_and_earliest() -> None:
    d = Deadline.after(10)
    assert 9 < d.remaining() <= 10
    assert d.cap(2.0) == 2.0
    assert 9 < d.cap(None) <= 10
    assert not d.expired
    past = Deadline.after(-1)
    assert past.expired and past.remaining() == 0.0 and past.cap(5) == 0.0
    assert d.earliest(past) is past and past.earliest(d) is past and d.earliest(None) is d
    assert "Deadline(in" in repr(d)


def test_scope_sets_the_context_and_the_earlier_one_wins() -> None:
    assert current_deadline() is None
    with deadline_scope(10.0) as outer:
        assert current_deadline() is outer
        with deadline_scope(100.0) as inner:
            assert inner is outer  # a later deadline cannot extend the request
        with deadline_scope(1.0) as tighter:
            assert tighter is not None and tighter.at < outer.at  # type: ignore[union-attr]
            assert current_deadline() is tighter
        assert current_deadline() is outer
    assert current_deadline() is None
    with deadline_scope(None) as nothing:
        assert nothing is None


def test_enter_and_exit_behave_like_the_scope() -> None:
    outer = enter_deadline(10.0)
    first = current_deadline()
    assert first is not None and 9 < first.remaining() <= 10
    inner = enter_deadline(100.0)
    assert current_deadline() is first  # a later deadline cannot extend the request
    exit_deadline(inner)
    tighter = enter_deadline(1.0)
    now = current_deadline()
    assert now is not None and now.at < first.at
    exit_deadline(tighter)
    assert current_deadline() is first
    exit_deadline(outer)
    assert current_deadline() is None


async def test_deadline_travels_into_tasks() -> None:
    async def look() -> Deadline | None:
        return current_deadline()

    with deadline_scope(5.0) as d:
        assert await asyncio.create_task(look()) is d


async def test_timeout_fires_and_leaves_no_task_or_timer() -> None:
    before = asyncio.all_tasks()
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await with_timeout(asyncio.sleep(3600), 0.02)
    assert asyncio.all_tasks() - before == set()
    timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert all(h.when() - loop.time() < 3000 for h in timers)


async def test_early_answer_cancels_the_timer() -> None:
    loop = asyncio.get_running_loop()

    async def quick() -> int:
        return 3

    assert await with_timeout(quick(), 1000.0) == 3
    live = [h for h in loop._scheduled if not h.cancelled()  # type: ignore[attr-defined]
            and h.when() - loop.time() > 900]
    assert live == []


async def test_deadline_scope_cancels_at_the_deadline() -> None:
    d = Deadline.after(0.02)
    with pytest.raises(TimeoutError):
        async with d.scope():
            await asyncio.sleep(3600)


async def test_cancelling_the_caller_inside_a_timeout() -> None:
    before = asyncio.all_tasks()
    started = asyncio.Event()

    async def work() -> None:
        started.set()
        await with_timeout(asyncio.sleep(3600), 1000.0)

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() - before == set()
