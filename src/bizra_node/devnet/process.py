"""Starting and stopping the helper processes the devnet, tests and benchmarks run
(anvil, redis-server, pgbouncer, proxies): wait until one answers, stop one politely."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

__all__ = ["stop_process", "wait_ready"]


def wait_ready(proc: subprocess.Popen[bytes], answers: Callable[[], bool], *, what: str,
               timeout: float, interval: float = 0.05) -> None:
    """Poll ``answers()`` until it is true. Raises RuntimeError if the process exits
    first (with the end of its stderr when that is a pipe), TimeoutError after
    ``timeout`` seconds; the process is left for the caller to stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
            raise RuntimeError(f"{what} exited at start{': ' + err if err else ''}")
        if answers():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} did not answer within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; a process already gone is fine."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
