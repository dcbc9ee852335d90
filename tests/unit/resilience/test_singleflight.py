"""SingleFlight: one execution per key; a cancelled caller cancels nobody else."""

from __future__ import annotations

import asyncio
import gc

import pytest

from bizra_node.resilience import SingleFlight


class Work:
    """Work a test can hold open (``release``) and count executions of."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.cancelled = False

    async def __call__(self, value: str) -> str:
        self.calls += 1
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return value.upper()


async def test_concurrent_callers_share_one_execution() -> None:
    joined: list[str] = []
    flight: SingleFlight[str, str] = SingleFlight(on_join=joined.append)
    work = Work()
    callers = [asyncio.ensure_future(flight.do("k", work, "v")) for _ in range(50)]
    await asyncio.sleep(0)
    assert "k" in flight and len(flight) == 1
    work.gate.set()
    assert await asyncio.gather(*callers) == ["V"] * 50
    assert work.calls == 1
    assert flight.joined == 49 and flight.started == 1
    assert joined == ["k"] * 49
    assert len(flight) == 0


async def test_distinct_keys_run_separately() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    work = Work()
    work.gate.set()
    assert await asyncio.gather(flight.do("a", work, "a"), flight.do("b", work, "b")) == ["A", "B"]
    assert work.calls == 2 and flight.joined == 0


async def test_cancelled_first_caller_does_not_cancel_the_others() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    work = Work()
    first = asyncio.ensure_future(flight.do("k", work, "v"))
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(flight.do("k", work, "v")) for _ in range(3)]
    while work.calls == 0 or flight.joined < 3:
        await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not work.cancelled
    work.gate.set()
    assert await asyncio.gather(*others) == ["V"] * 3
    assert work.calls == 1


async def test_cancelled_waiter_leaves_the_first_caller_alone() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    work = Work()
    first = asyncio.ensure_future(flight.do("k", work, "v"))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(flight.do("k", work, "v"))
    while work.calls == 0 or flight.joined < 1:
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    work.gate.set()
    assert await first == "V"
    assert not work.cancelled


async def test_work_finishes_even_when_every_caller_went_away() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    work = Work()
    done: list[str] = []

    async def record(value: str) -> str:
        result = await work(value)
        done.append(result)
        return result

    callers = [asyncio.ensure_future(flight.do("k", record, "v")) for _ in range(2)]
    await asyncio.sleep(0)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    work.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert done == ["V"]  # the shared work ran to its end (its result can still be cached)
    assert len(flight) == 0


async def test_exception_reaches_every_waiter_and_is_not_remembered() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def failing(_: str) -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("upstream down")

    callers = [asyncio.ensure_future(flight.do("k", failing, "v")) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    # the next call starts afresh: errors are not cached
    gate.clear()
    again = asyncio.ensure_future(flight.do("k", failing, "v"))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError):
        await again
    assert calls == 2


async def test_unawaited_failure_is_not_logged_as_never_retrieved(
        caplog: pytest.LogCaptureFixture) -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    gate = asyncio.Event()

    async def failing(_: str) -> str:
        await gate.wait()
        raise RuntimeError("nobody waits for me")

    caller = asyncio.ensure_future(flight.do("k", failing, "v"))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    assert "never retrieved" not in caplog.text
