"""SupervisedGranian replaces granian's main loop and relies on some of its private
parts; a granian upgrade that moves them fails here, not in production. How a worker's
end is said in the log. The loop itself over stand-in workers: every death is replaced,
a worker that cannot be forked is tried again, only the stop signal ends it (the same
with real processes and signals: tests/e2e/test_worker_respawn.py)."""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

from granian.server.common import AbstractServer, AbstractWorker
from granian.server.mp import MPServer, WorkerProcess

from bizra_node.server import Backoff, RestartSchedule, SupervisedGranian, describe_exit


def test_the_granian_parts_we_rely_on_are_there() -> None:
    for name in ("_serve_loop", "_respawn_workers", "_reload", "_init_shared_socket",
                 "startup"):
        assert callable(getattr(MPServer, name, None)), name
    server = MPServer("x:y")
    for name in ("wrks", "interrupt_children", "main_loop_interrupt", "interrupt_signal",
                 "reload_signal", "respawned_wrks", "bind_addr", "bind_port", "workers"):
        assert hasattr(server, name), name
    assert issubclass(WorkerProcess, AbstractWorker)
    assert "self.birth" in inspect.getsource(AbstractWorker.__init__)
    # the loop we replace is the one with the crash-loop exit
    assert "crash loop" in inspect.getsource(AbstractServer._serve_loop)
    assert SupervisedGranian._serve_loop is not AbstractServer._serve_loop


def test_exits_in_words() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(-11) == "killed by SIGSEGV"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(None) == "exit status unknown"


class _Proc:
    def __init__(self, pid: int, exitcode: int | None = None) -> None:
        self.pid, self.exitcode = pid, exitcode


class _Worker:
    def __init__(self, pid: int) -> None:
        self.inner = _Proc(pid)
        self.birth = time.monotonic()


class _Loop(SupervisedGranian):
    """The real main loop over stand-in workers: spawning a worker is recorded (and
    fails while ``refuse`` says so) instead of forking."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("x:y", workers=2, **kwargs)
        self.wrks: list[Any] = [_Worker(100), _Worker(101)]
        self.spawned: list[int] = []
        self.refuse = 0
        self.next_pid = 200

    def _respawn_workers(self, workers: list[int], spawn_target: Any, target_loader: Any,
                         delay: float = 0) -> None:
        for idx in workers:
            self.wrks.pop(idx)
            if self.refuse:
                self.refuse -= 1
                raise OSError(11, "Resource temporarily unavailable")  # fork: EAGAIN
            self.wrks.insert(idx, _Worker(self.next_pid))
            self.next_pid += 1
            self.spawned.append(idx)


def _die(server: _Loop, slot: int, exitcode: int = -9) -> None:
    server.wrks[slot].inner.exitcode = exitcode
    server.interrupt_children.append(slot)
    server.main_loop_interrupt.set()


def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_loop_replaces_a_worker_each_time_and_stops_only_when_told() -> None:
    counted: list[tuple[int, int | None, str]] = []
    server = _Loop(schedule=RestartSchedule(Backoff(first=0.05, cap=0.2)),
                   on_restart=lambda *a: counted.append(a))
    loop = threading.Thread(target=server._serve_loop, args=(None, None))
    loop.start()
    try:
        for n in range(6):  # granian would have exited at the second
            _die(server, 1)
            _until(lambda n=n: len(server.spawned) == n + 1)
        assert server.spawned == [1] * 6 and loop.is_alive()
        assert [c[2] for c in counted] == ["killed by SIGKILL"] * 6
        assert counted[0][1] == 101 and counted[1][1] == 200
        assert len(server.wrks) == 2 and server.wrks[0].inner.pid == 100
    finally:
        server.interrupt_signal = True
        server.main_loop_interrupt.set()
        loop.join(10)
    assert not loop.is_alive()


def test_a_worker_that_cannot_be_started_is_tried_again() -> None:
    def broken(*_a: Any) -> None:
        raise OSError("disk full")  # a failing count does not end the node either

    server = _Loop(schedule=RestartSchedule(Backoff(first=0.05, cap=0.2)), on_restart=broken)
    server.refuse = 2
    loop = threading.Thread(target=server._serve_loop, args=(None, None))
    loop.start()
    try:
        _die(server, 0, exitcode=1)
        _until(lambda: server.spawned == [0])
        assert loop.is_alive() and len(server.wrks) == 2
        assert server.schedule.streaks[0] == 3  # the death, then two refused forks
    finally:
        server.interrupt_signal = True
        server.main_loop_interrupt.set()
        loop.join(10)
