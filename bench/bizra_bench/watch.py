"""CPU and memory of the processes under test while a load runs.

CPU is the processes' CPU time used during the run (``cpu_s``; over the requests
answered, the CPU time per request the suite reports) and that over its wall time
(``cpu_pct``, 100 % = one core busy); RSS is sampled every ``interval`` seconds in a thread and the peak and
mean are kept (a single reading at the end misses a peak during the run).
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType

import psutil

__all__ = ["Watch"]


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


class Watch:
    """``with Watch(pids) as w: ...`` then ``w.cpu_pct``, ``w.cpu_s`` (CPU seconds used
    during the block), ``w.rss_peak_mb``, ``w.rss_mean_mb``."""

    def __init__(self, pids: list[int], interval: float = 0.25) -> None:
        self.procs = [psutil.Process(p) for p in pids if psutil.pid_exists(p)]
        self.interval = interval
        self.cpu_pct = 0.0
        self.cpu_s = 0.0
        self.rss_peak_mb = 0.0
        self.rss_mean_mb = 0.0
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._t0 = self._cpu0 = 0.0

    def _sample(self) -> None:
        while True:
            self._samples.append(_rss(self.procs))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Watch:
        self._t0 = time.perf_counter()
        self._cpu0 = _cpu_seconds(self.procs)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        self.cpu_s = _cpu_seconds(self.procs) - self._cpu0
        self.cpu_pct = 100.0 * self.cpu_s / wall
        self._stop.set()
        self._thread.join()
        samples = self._samples or [_rss(self.procs)]
        self.rss_peak_mb = max(samples) / 2**20
        self.rss_mean_mb = sum(samples) / len(samples) / 2**20
