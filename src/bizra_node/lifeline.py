"""A child process that must not outlive the process that started it.

Killing a node's main process with SIGKILL gives it no chance to stop its workers, and
each granian worker holds a listening socket of its own (SO_REUSEPORT): left alone, an
orphaned worker keeps serving on the node's port, the balancer keeps it in rotation and
nothing that knows about the node stops it. So a worker (and anvil, and the admin
listener) holds a lifeline to its parent:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment
  the parent dies, and the worker's own SIGTERM handling drains and stops it;
- everywhere (and for the gap between fork and prctl), a thread that checks every
  ``CHECK_INTERVAL`` seconds whether the parent changed; when it did, it sends SIGTERM
  to its own process, and ends it hard ``ORPHAN_GRACE`` seconds later if the drain has
  not (a worker whose parent is gone has nobody to report to).

The parent says who it is in ``SUPERVISOR_ENV`` (set before it starts its workers), so
a worker whose parent died before it could look is not fooled by its new parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["CHECK_INTERVAL", "ORPHAN_GRACE", "SUPERVISOR_ENV", "die_with_parent",
           "hold_lifeline"]

log = logging.getLogger("bizra_node.lifeline")

SUPERVISOR_ENV = "BIZRA_SUPERVISOR_PID"
"""The pid of the process whose workers we are (set by ``bizra-node serve``)."""
CHECK_INTERVAL = 1.0
"""Seconds between two looks at the parent pid (the portable fallback)."""
ORPHAN_GRACE = 15.0
"""Seconds an orphaned worker gets to drain after SIGTERM before it is ended hard."""
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies (it is kept across
    exec); False where that is not available (then only :func:`hold_lifeline`'s check
    works). Safe in a ``preexec_fn``: no allocation beyond the ctypes call."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    return False


def expected_parent() -> int:
    """The parent this process belongs to: ``SUPERVISOR_ENV`` when set, else the one it
    has now."""
    value = os.environ.get(SUPERVISOR_ENV, "")
    return int(value) if value.isdigit() else os.getppid()


def hold_lifeline(parent: int | None = None, *, interval: float = CHECK_INTERVAL,
                  grace: float = ORPHAN_GRACE) -> threading.Thread:
    """In a worker, at its start: stop when ``parent`` (default :func:`expected_parent`)
    is gone. Returns the watching thread (a daemon)."""
    expected = expected_parent() if parent is None else parent
    die_with_parent(signal.SIGTERM)
    watcher = threading.Thread(target=_watch, args=(expected, interval, grace), daemon=True,
                               name="lifeline")
    watcher.start()
    return watcher


def _watch(expected: int, interval: float, grace: float) -> None:
    while os.getppid() == expected:
        time.sleep(interval)
    log.error("parent process %d is gone (now %d): this worker stops (SIGTERM to itself, "
              "ended hard after %.0f s)", expected, os.getppid(), grace)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    os._exit(70)  # EX_SOFTWARE: the drain did not finish in time
