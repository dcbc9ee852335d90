"""granian's main process, with our rule for workers that die.

granian (2.8, the version in requirements/) respawns a failed worker only once: if the
same worker dies again within 5.5 s of its respawn it logs "Worker crash loop
detected, exiting" and shuts the whole server down, and no option changes that (the
check is inline in ``AbstractServer._serve_loop``; ``respawn_interval`` only spaces
reloads). A node must never exit because a worker died.

Of the ways around it, this one keeps what works: :class:`SupervisedGranian` is
granian's multiprocess server with its main loop replaced. Everything else stays
granian's: the one listening address (each worker binds it with SO_REUSEPORT from the
spec the main process checked), SIGTERM/SIGINT draining every worker before exit,
SIGHUP reloads, and the workers' metric files in one directory. A process of our own
restarting the whole granian would instead drop every healthy worker, its in-flight
requests and its L1 with the sick one, and leave the port closed between runs; one
granian per worker would need a second supervisor on top for the same result.

The loop: a worker that exits without being asked is logged (slot, pid, signal or exit
code, how long it lived), counted in ``worker_restarts_total`` and replaced after the
delay :class:`RestartSchedule` gives (at once, then 0.5 s doubling to 30 s while it
keeps dying within 30 s of its start). Only SIGTERM or SIGINT ends the loop.

The private parts of granian this relies on (``_serve_loop``, ``_respawn_workers``,
``_reload``, ``wrks``, ``interrupt_children``, ``main_loop_interrupt``,
``interrupt_signal``, ``reload_signal``, ``_init_shared_socket``) are checked by
tests/unit/server/test_supervisor.py, so a granian upgrade that moves them fails there.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from granian.server.mp import MPServer

from ..lifeline import SUPERVISOR_ENV
from .ports import PortUnavailable
from .restarts import RestartSchedule

__all__ = ["SupervisedGranian", "describe_exit"]

log = logging.getLogger("bizra_node.supervisor")

ANNOUNCE_TIMEOUT = 300.0
"""How long the main process waits for a worker to listen before it stops saying so."""


def describe_exit(code: int | None) -> str:
    """multiprocessing's exit code in words: "killed by SIGKILL", "exit code 1"."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class SupervisedGranian(MPServer):
    """granian's multiprocess server that replaces dead workers for as long as it runs.

    ``on_start()`` is called in the main process when it starts serving (before the
    workers); ``on_restart(slot, pid, how)`` for each worker that died (before its
    replacement starts); ``on_listening()`` once a worker accepts connections on the
    address (the node is really serving); ``what_port`` and ``change_port`` word the
    error when the address is taken after all. The workers learn the main process's pid
    from ``SUPERVISOR_ENV`` (their lifeline).
    """

    def __init__(self, *args: Any, schedule: RestartSchedule | None = None,
                 on_start: Callable[[], None] | None = None,
                 on_restart: Callable[[int, int | None, str], None] | None = None,
                 on_listening: Callable[[], None] | None = None,
                 what_port: str = "the HTTP server", change_port: str = "choose another port",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schedule = schedule or RestartSchedule()
        self._on_start = on_start
        self._on_restart = on_restart
        self._on_listening = on_listening
        self._what_port = what_port
        self._change_port = change_port
        self._stopping = threading.Event()

    # --- the main loop ------------------------------------------------------------------
    def _serve_loop(self, spawn_target: Any, target_loader: Any) -> None:
        while True:
            self.main_loop_interrupt.wait(self.schedule.wait_time())
            # cleared before looking, so a signal or a death after this sets it again
            self.main_loop_interrupt.clear()
            if self.interrupt_signal:
                self._stopping.set()
                break
            while self.interrupt_children:  # appended by granian's watcher threads
                self._died(self.interrupt_children.pop(0))
            for slot in self.schedule.pop_due():
                self._replace(slot, spawn_target, target_loader)
            if self.reload_signal:
                for slot in range(self.workers):
                    self.schedule.cancel(slot)  # a reload starts every worker afresh
                self._reload(spawn_target, target_loader)  # type: ignore[no-untyped-call]

    def _replace(self, slot: int, spawn_target: Any, target_loader: Any) -> None:
        """Start slot's new worker; one that cannot be started (fork refused: out of
        memory or processes) is tried again after the streak's next delay, never the
        end of the node."""
        old = self.wrks[slot]
        try:
            self._respawn_workers([slot], spawn_target, target_loader)
        except Exception:
            if len(self.wrks) < self.workers:  # granian took the old one out first
                self.wrks.insert(slot, old)
            delay = self.schedule.died(slot, 0.0)
            log.exception("worker-%d could not be started; trying again in %.1f s",
                          slot + 1, delay)
            return
        self.respawned_wrks.clear()  # granian's crash-loop memory: not used here
        log.warning("worker-%d replaced: pid %s", slot + 1, self.wrks[slot].inner.pid)

    def _died(self, slot: int) -> None:
        worker = self.wrks[slot]
        pid, how = worker.inner.pid, describe_exit(worker.inner.exitcode)
        lived = time.monotonic() - worker.birth
        delay = self.schedule.died(slot, lived)
        log.error("worker-%d (pid %s) died: %s after %.1f s; restart %d in a row, replaced "
                  "in %.1f s", slot + 1, pid, how, lived, self.schedule.streaks[slot], delay)
        if self._on_restart is not None:
            try:
                self._on_restart(slot, pid, how)
            except Exception:  # counting must not end the node
                log.exception("counting the restart of worker-%d failed", slot + 1)

    # --- start-up -------------------------------------------------------------------------
    def _init_shared_socket(self) -> None:
        try:
            super()._init_shared_socket()  # type: ignore[no-untyped-call]
        except RuntimeError as exc:  # granian's bind error, with a Rust backtrace
            if "in use" not in str(exc):
                raise
            raise PortUnavailable(self.bind_addr, self.bind_port, self._what_port,
                                  self._change_port,
                                  f"port {self.bind_port} is already in use by another "
                                  "process") from None

    def startup(self, spawn_target: Any, target_loader: Any) -> None:
        if self._on_start is not None:
            self._on_start()
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        os.register_at_fork(after_in_child=_default_stop_signals)
        super().startup(spawn_target, target_loader)  # type: ignore[no-untyped-call]
        if self._on_listening is not None:
            threading.Thread(target=self._announce, daemon=True, name="announce").start()

    def _announce(self) -> None:
        """Call ``on_listening`` once a connection to the address succeeds: the workers
        bind when their app is built, seconds after the main process starts."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
            self.bind_addr, self.bind_addr)
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if self.bind_port == 0 or _accepts(host, self.bind_port):
                if self._on_listening is not None:
                    self._on_listening()
                return
            self._stopping.wait(0.05)


def _default_stop_signals() -> None:
    """In a new worker: SIGTERM and SIGINT end it until granian installs its own
    handlers. Inherited from the main process they would only set a flag in the worker's
    copy of the server: a stop asked while the worker builds its app was lost, and the
    main process waited for that worker for ever."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
