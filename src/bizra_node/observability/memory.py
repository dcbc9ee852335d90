"""Memory guard: keep a worker under its share of the memory limit by shedding L1.

Every ``Tuning.memory_check_interval`` seconds (5) the guard compares this worker's resident
memory (RSS) with its budget: the node's limit (``MEMORY_LIMIT``, else the cgroup's
``memory.max`` / ``memory.limit_in_bytes``) divided by the number of workers, since
every worker of the node lives in the same container. Above ``memory_high_ratio``
(85 %) it trims half of each target (the L1 cache); above ``memory_critical_ratio``
(95 %) it clears the targets and runs a full garbage collection. Each action is
logged and counted in ``memory_guard_actions_total{action}``. Without a known limit
the guard only reports RSS.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..resilience import Periodic
from .metrics import NodeMetrics

__all__ = ["MemoryGuard", "Trimmable", "cgroup_memory_limit", "read_rss"]

log = logging.getLogger("bizra_node.memory")

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge page-aligned number


@runtime_checkable
class Trimmable(Protocol):
    """What the guard sheds: the L1 cache implements exactly this."""

    def trim(self, fraction: float) -> int:
        """Drop about ``fraction`` of the entries (least valuable first); returns how many."""
        ...

    def clear(self) -> int:
        """Drop every entry; returns how many."""
        ...


def read_rss() -> int:
    """Resident set size of this process in bytes (/proc/self/statm; psutil elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # pragma: no cover - non-Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 < value < _UNLIMITED else None


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup"),
                        proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """The memory limit of this process's cgroup in bytes, or None when unlimited.

    cgroup v2: ``<root>/<path>/memory.max``; v1: ``<root>/memory/<path>/memory.limit_in_bytes``
    (each also tried at the root, which is what a container sees of its own cgroup)."""
    v2_path = v1_path = "/"
    try:
        for line in proc_cgroup.read_text().splitlines():
            hier, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            if hier == "0" and controllers == "":
                v2_path = path or "/"
            elif "memory" in controllers.split(","):
                v1_path = path or "/"
    except OSError:
        pass
    candidates = [root / v2_path.lstrip("/") / "memory.max", root / "memory.max",
                  root / "memory" / v1_path.lstrip("/") / "memory.limit_in_bytes",
                  root / "memory" / "memory.limit_in_bytes"]
    for candidate in candidates:
        limit = _read_limit(candidate)
        if limit is not None:
            return limit
    return None


class MemoryGuard:
    """Watches RSS against the budget and sheds targets under pressure."""

    def __init__(self, metrics: NodeMetrics, *, limit: int, workers: int, interval: float,
                 high_ratio: float = 0.85, critical_ratio: float = 0.95,
                 targets: list[Trimmable] | None = None,
                 rss: Callable[[], int] = read_rss) -> None:
        """``limit`` is the node's limit in bytes (0: the cgroup's, if any)."""
        self._metrics = metrics
        self.limit = limit or cgroup_memory_limit() or 0
        self.budget = self.limit // max(workers, 1)
        self.interval = interval
        self.high_ratio = high_ratio
        self.critical_ratio = critical_ratio
        self.targets: list[Trimmable] = list(targets or [])
        self._rss = rss
        self._periodic = Periodic("memory guard check", self.check, interval, logger=log)
        metrics.memory_limit.set(float(self.limit))  # 0: no limit known
        metrics.memory_actions.preset(("trim",), ("clear",))

    def add_target(self, target: Trimmable) -> None:
        self.targets.append(target)

    def check(self) -> str | None:
        """One look at memory; returns the action taken (``trim``, ``clear``) or None."""
        rss = self._rss()
        self._metrics.process_rss.set(float(rss))
        if not self.budget:
            return None
        ratio = rss / self.budget
        if ratio > self.critical_ratio:
            removed = sum(t.clear() for t in self.targets)
            collected = gc.collect()
            after = self._rss()
            self._metrics.memory_actions.inc(("clear",))
            self._metrics.process_rss.set(float(after))
            log.error("critical memory pressure: cleared L1 and collected garbage", extra={
                "rss_bytes": rss, "budget_bytes": self.budget, "ratio": round(ratio, 3),
                "removed_entries": removed, "gc_objects": collected, "rss_after_bytes": after})
            return "clear"
        if ratio > self.high_ratio:
            removed = sum(t.trim(0.5) for t in self.targets)
            self._metrics.memory_actions.inc(("trim",))
            log.warning("high memory pressure: trimmed half of L1", extra={
                "rss_bytes": rss, "budget_bytes": self.budget, "ratio": round(ratio, 3),
                "removed_entries": removed})
            return "trim"
        return None

    def start(self) -> None:
        if not self._periodic.running:
            self._periodic.start()
            if self.limit:
                log.info("memory guard on", extra={"limit_bytes": self.limit,
                                                   "budget_bytes": self.budget})

    async def stop(self) -> None:
        await self._periodic.stop()
