"""A server under test that never answers is stopped with its children: none is left
running, orphaned, on a shared machine."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from bizra_bench.loadgen import start_server


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_server_that_never_answers_leaves_no_worker(tmp_path: Path) -> None:
    pidfile = tmp_path / "worker"
    code = ("import subprocess, sys, time\n"
            "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(w.pid))\n"
            "time.sleep(300)\n")
    with pytest.raises(TimeoutError):
        start_server([sys.executable, "-c", code], {}, "/health", timeout=10)
    worker = int(pidfile.read_text())  # spawned within the 10 s
    deadline = time.monotonic() + 15
    while not _gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert _gone(worker)
    finally:  # a failing run must not leave it behind either
        if not _gone(worker):
            psutil.Process(worker).kill()
