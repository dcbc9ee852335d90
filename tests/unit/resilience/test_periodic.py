"""Periodic: calls until stopped, survives a failing call, finishes from inside, and
runs nothing after stop() returns. Synchronised on events, not on sleeps."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bizra_node.resilience import Periodic, cancel_and_wait

log = logging.getLogger("test.periodic")


async def test_calls_again_after_a_failing_call(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0
    third = asyncio.Event()

    def work() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            third.set()
        if calls == 1:
            raise RuntimeError("first call fails")

    job = Periodic("job", work, 0.001, logger=log, first_delay=0)
    with caplog.at_level(logging.ERROR, "test.periodic"):
        job.start()
        await asyncio.wait_for(third.wait(), 10)
        await job.stop()
    assert "job failed" in caplog.text and "first call fails" in caplog.text
    assert not job.running


async def test_nothing_runs_after_stop_returns() -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)
        finished.append(True)

    job = Periodic("slow", slow, 0.001, logger=log, first_delay=0)
    job.start()
    await asyncio.wait_for(started.wait(), 10)
    await job.stop()
    assert not job.running and finished == []


async def test_finish_from_inside_ends_the_loop() -> None:
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1
        job.finish()

    job = Periodic("once", once, 0.001, logger=log, first_delay=0)
    job.start()
    task = job._task
    assert task is not None
    await asyncio.wait_for(task, 10)
    assert calls == 1 and not job.running


def test_an_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        Periodic("bad", lambda: None, 0, logger=log)


async def test_cancel_and_wait_takes_none_and_finished_tasks() -> None:
    await cancel_and_wait(None)
    task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    await task
    await cancel_and_wait(task)
