"""What a server process holds, seen from outside: its open file descriptors
(/proc/PID/fd), the TCP connections to its port by state (/proc/net/tcp{,6}) and its
resident memory; and waiting on them with a deadline."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import TypeVar

import psutil

__all__ = ["CLOSE_WAIT", "ESTABLISHED", "connections", "open_fds", "rss_mib", "wait_until",
           "worker_of"]

ESTABLISHED = "01"
CLOSE_WAIT = "08"
T = TypeVar("T")


def worker_of(server_pid: int) -> psutil.Process:
    """The one granian worker of a `bizra-node serve --workers 1` process (its child
    running the same Python; anvil or others are skipped)."""
    main = psutil.Process(server_pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for child in main.children(recursive=True):
            try:
                if child.exe() == main.exe():
                    return child
            except psutil.Error:
                continue
        time.sleep(0.05)
    raise RuntimeError("no granian worker found")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def connections(port: int, state: str) -> int:
    """Server-side TCP connections on local ``port`` in ``state`` (hex, as the kernel
    writes it: 01 established, 08 close-wait)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                count += 1
    return count


async def wait_until(probe: Callable[[], T], ok: Callable[[T], bool], within: float,
                     every: float = 0.1) -> tuple[T, float]:
    """Poll ``probe`` until ``ok`` holds of its value; (the value, seconds taken). Raises
    AssertionError with the last value when ``within`` seconds pass first."""
    start = time.monotonic()
    while True:
        value = probe()
        took = time.monotonic() - start
        if ok(value):
            return value, took
        if took > within:
            raise AssertionError(f"not reached within {within} s: last {value!r}")
        await asyncio.sleep(every)
