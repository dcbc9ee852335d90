"""Shared state in this process (the Redis ones: tests/integration/validation)."""

from __future__ import annotations

import pytest

from bizra_node.cache import LocalState
from bizra_node.errors import StoreUnavailable


async def test_put_get_swap_delete() -> None:
    state = LocalState()
    await state.put("k", b"1", 10)
    assert await state.get("k") == b"1"
    assert not await state.swap("k", b"0", b"2", 10)  # not what is held: refused
    assert await state.swap("k", b"1", b"2", 10)
    assert await state.get("k") == b"2"
    assert await state.delete("k") and not await state.delete("k")
    assert await state.get("k") is None


class Clock:
    """A clock the test moves (no sleeps raced against the time to live)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_entries_expire_unless_touched() -> None:
    clock = Clock()
    state = LocalState(clock=clock)
    await state.put("a", b"x", 0.05)
    await state.put("b", b"y", 0.05)
    clock.now += 0.03
    assert await state.get("a", touch=0.1) == b"x"
    clock.now += 0.04  # b's 0.05 s are over; a was renewed for 0.1 s at +0.03
    assert await state.get("a") == b"x" and await state.get("b") is None
    clock.now += 0.07  # past +0.13
    assert await state.get("a") is None


async def test_a_full_store_says_so() -> None:
    state = LocalState(max_entries=2)
    await state.put("a", b"", 10)
    await state.put("b", b"", 10)
    with pytest.raises(StoreUnavailable):
        await state.put("c", b"", 10)
