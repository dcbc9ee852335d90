"""The memory guard against a small MEMORY_LIMIT, shedding a real LRU."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from pathlib import Path

import pytest

from bizra_node.observability import (
    MemoryGuard,
    NodeMetrics,
    Trimmable,
    cgroup_memory_limit,
    read_rss,
)


class TinyLRU:
    """A real least-recently-used map with the two methods the guard needs."""

    def __init__(self) -> None:
        self.data: OrderedDict[str, bytes] = OrderedDict()

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value
        self.data.move_to_end(key)

    def get(self, key: str) -> bytes | None:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def trim(self, fraction: float) -> int:
        n = int(len(self.data) * fraction)
        for _ in range(n):
            self.data.popitem(last=False)
        return n

    def clear(self) -> int:
        n = len(self.data)
        self.data.clear()
        return n


def filled(n: int = 100) -> TinyLRU:
    lru = TinyLRU()
    for i in range(n):
        lru.put(f"k{i}", b"x" * 64)
    return lru


def test_the_lru_is_a_trim_target() -> None:
    assert isinstance(TinyLRU(), Trimmable)


def test_no_action_under_the_high_mark() -> None:
    m, lru = NodeMetrics(), filled()
    guard = MemoryGuard(m, limit=read_rss() * 4, workers=1, interval=1, targets=[lru])
    assert guard.check() is None
    assert len(lru.data) == 100 and m.memory_actions.total() == 0
    assert m.memory_limit.get() == guard.limit and m.process_rss.get() > 0


def test_above_85_percent_half_of_l1_goes(caplog: pytest.LogCaptureFixture) -> None:
    m, lru = NodeMetrics(), filled()
    lru.get("k0")  # recently used: kept
    guard = MemoryGuard(m, limit=int(read_rss() / 0.90), workers=1, interval=1, targets=[lru])
    with caplog.at_level(logging.INFO, "bizra_node.memory"):
        assert guard.check() == "trim"
    assert len(lru.data) == 50 and "k0" in lru.data and "k1" not in lru.data
    assert m.memory_actions.get(("trim",)) == 1
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.removed_entries == 50  # type: ignore[attr-defined]


def test_above_95_percent_l1_is_cleared_and_garbage_collected(
        caplog: pytest.LogCaptureFixture) -> None:
    m, lru = NodeMetrics(), filled()
    guard = MemoryGuard(m, limit=int(read_rss() / 1.5), workers=1, interval=1, targets=[lru])
    with caplog.at_level(logging.INFO, "bizra_node.memory"):
        assert guard.check() == "clear"
    assert lru.data == {}
    assert m.memory_actions.get(("clear",)) == 1
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.removed_entries == 100  # type: ignore[attr-defined]


def test_the_budget_is_a_share_of_the_node_limit() -> None:
    m, lru = NodeMetrics(), filled()
    rss = read_rss()
    # alone this worker would be at ~45 %; as one of two workers it is at ~90 %
    guard = MemoryGuard(m, limit=int(rss / 0.45), workers=2, interval=1, targets=[lru])
    assert guard.budget == guard.limit // 2
    assert guard.check() == "trim"


async def test_the_guard_watches_on_its_own() -> None:
    m, lru = NodeMetrics(), filled()
    guard = MemoryGuard(m, limit=int(read_rss() / 1.5), workers=1, interval=0.01)
    guard.start()
    guard.add_target(lru)
    try:
        for _ in range(500):
            if not lru.data:
                break
            await asyncio.sleep(0.01)
    finally:
        await guard.stop()
    assert lru.data == {} and m.memory_actions.get(("clear",)) >= 1


async def test_a_failing_target_does_not_stop_the_guard(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(TinyLRU):
        def clear(self) -> int:
            raise RuntimeError("broken target")

    m = NodeMetrics()
    guard = MemoryGuard(m, limit=int(read_rss() / 1.5), workers=1, interval=0.01,
                        targets=[Broken()])
    with caplog.at_level(logging.ERROR, "bizra_node.memory"):
        guard.start()
        for _ in range(500):
            if len([r for r in caplog.records if "check failed" in r.getMessage()]) >= 2:
                break
            await asyncio.sleep(0.01)
        await guard.stop()
    assert len([r for r in caplog.records if "check failed" in r.getMessage()]) >= 2


def test_without_a_limit_the_guard_only_reports() -> None:
    m, lru = NodeMetrics(), filled()
    guard = MemoryGuard(m, limit=0, workers=1, interval=1, targets=[lru])
    guard.limit = guard.budget = 0  # as on a host without a cgroup limit
    assert guard.check() is None and len(lru.data) == 100
    assert m.process_rss.get() > 0


def test_cgroup_limits_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    (v2 / "app").mkdir(parents=True)
    (v2 / "app" / "memory.max").write_text("536870912\n")
    proc = tmp_path / "cgroup-v2"
    proc.write_text("0::/app\n")
    assert cgroup_memory_limit(v2, proc) == 512 * 1024 * 1024
    (v2 / "app" / "memory.max").write_text("max\n")
    assert cgroup_memory_limit(v2, proc) is None

    v1 = tmp_path / "v1"
    (v1 / "memory" / "docker" / "abc").mkdir(parents=True)
    (v1 / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text("1073741824")
    proc1 = tmp_path / "cgroup-v1"
    proc1.write_text("5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert cgroup_memory_limit(v1, proc1) == 1024 ** 3
    (v1 / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text(
        "9223372036854771712")
    assert cgroup_memory_limit(v1, proc1) is None
    assert cgroup_memory_limit(tmp_path / "none", tmp_path / "missing") is None
