"""Waiting for helper processes, and stopping them, with real child processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bizra_node.devnet import stop_process, wait_ready


def test_a_process_that_exits_at_start_says_why() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('no port for me')"],
                            stderr=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="no port for me"):
        wait_ready(proc, lambda: False, what="thing", timeout=10)


def test_a_silent_process_times_out_and_stops() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(TimeoutError, match="thing did not answer"):
        wait_ready(proc, lambda: False, what="thing", timeout=0.2)
    stop_process(proc, grace=5)
    assert proc.poll() is not None
    stop_process(proc)  # already gone: nothing to do
    stop_process(None)


def test_ready_when_it_answers() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        wait_ready(proc, lambda: True, what="thing", timeout=5)
    finally:
        stop_process(proc)
