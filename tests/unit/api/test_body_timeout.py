"""BodyTimeouts: late reads are cancelled and recognised; other cancellations pass."""

from __future__ import annotations

import asyncio

import pytest

from bizra_node.api.body_timeout import BodyTimeouts


async def read(timeouts: BodyTimeouts, wait: float) -> str:
    task = timeouts.begin()
    try:
        await asyncio.sleep(wait)
    except asyncio.CancelledError:
        if not timeouts.expired(task):
            raise
        return "timed out"
    finally:
        timeouts.end(task)
    return "read"


async def test_a_late_read_times_out_and_a_quick_one_does_not() -> None:
    timeouts = BodyTimeouts(0.2, tick=0.05)
    late, quick = await asyncio.gather(read(timeouts, 5), read(timeouts, 0.01))
    assert (late, quick) == ("timed out", "read")
    assert timeouts.pending == 0
    await asyncio.sleep(0.1)
    assert timeouts._reaper is None  # the reaper goes when nothing is pending


async def test_the_task_goes_on_after_a_timeout() -> None:
    timeouts = BodyTimeouts(0.1, tick=0.02)

    async def then_more() -> int:
        assert await read(timeouts, 5) == "timed out"
        await asyncio.sleep(0.01)  # not cancelled again: the cancellation was taken back
        return 1

    assert await then_more() == 1


async def test_another_cancellation_is_not_a_timeout() -> None:
    timeouts = BodyTimeouts(10, tick=0.05)
    task = asyncio.create_task(read(timeouts, 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert timeouts.pending == 0


async def test_no_timeout_costs_nothing() -> None:
    timeouts = BodyTimeouts(None)
    assert timeouts.begin() is None
    assert await read(timeouts, 0) == "read"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_each_read_registers_its_own_task_on_either_loop(loop: str) -> None:
    """The registry lookup (body_timeout._TASKS) finds the task that reads, on asyncio's
    loop and on uvloop, while the reaper runs and after it went away."""
    import uvloop

    async def main() -> None:
        timeouts = BodyTimeouts(0.2, tick=0.02)

        async def one() -> bool:
            task = timeouts.begin()
            try:
                await asyncio.sleep(0)
                return task is asyncio.current_task()
            finally:
                timeouts.end(task)

        assert all(await asyncio.gather(*(one() for _ in range(20))))
        assert timeouts._reaper is not None
        await asyncio.sleep(0.1)  # the reaper goes
        assert timeouts._reaper is None
        assert await asyncio.create_task(one())
        assert await read(timeouts, 5) == "timed out"

    (uvloop.run if loop == "uvloop" else asyncio.run)(main())
