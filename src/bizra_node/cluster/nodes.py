"""The node processes of a local cluster: start, stop and restart one; what each runs.

Who changes a node's process: ``up``, the keeper (``keeper.py``, restarting a node that
died), ``bizra-node cluster restart NODE`` and tests, from different processes. So a
node's run is a small file of its own, ``run/node<i>.json`` (pid, when it started,
restarts, the last one), never a field of ``state.json`` that a stale copy could write
back, and a restart holds the cluster's lock (``run/lock``, flock) from stop to start.

Stopping a node stops everything it left: its main process (SIGTERM: granian drains its
workers), then every process still running in the node's folder with ``bizra_node`` on
its command line. Those are workers orphaned when the main process was killed and that
did not stop on their own (a stopped or hung worker ignores its parent-death signal);
left alone, one keeps listening on the node's port (SO_REUSEPORT) and serving, and the
balancer keeps it in rotation.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from .procs import alive, http_status, kill_group, spawn, stop_pid, wait_for

if TYPE_CHECKING:
    from .local import ClusterState

__all__ = ["NodeRun", "cluster_lock", "kill_node", "leftovers", "node_index", "read_run",
           "restart_held", "restart_node", "start_node", "stop_node", "wait_node"]

LEFTOVER_GRACE = 5.0
"""Seconds a leftover process of a node gets after SIGTERM before SIGKILL."""


@dataclass
class NodeRun:
    """One node's process as last started (``run/node<i>.json``)."""

    pid: int | None = None
    started: float = 0.0
    """time.time() of the last start."""
    restarts: int = 0
    """Starts after the first: by the keeper or by `cluster restart`."""
    last_restart: str | None = None
    """When (UTC, ISO 8601) and by whom: "2026-12-07T18:20:01Z by keeper"."""


def _run_file(root: Path, i: int) -> Path:
    return root / "run" / f"node{i + 1}.json"


def read_run(root: Path, i: int) -> NodeRun:
    try:
        return NodeRun(**json.loads(_run_file(root, i).read_text()))
    except (OSError, ValueError, TypeError):
        return NodeRun()


def _write_run(root: Path, i: int, run: NodeRun) -> None:
    path = _run_file(root, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(asdict(run)) + "\n")
    tmp.replace(path)


@contextlib.contextmanager
def cluster_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the cluster's node lock; yields False (not held) when ``wait`` is off and
    another process holds it."""
    path = root / "run" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def node_index(name: str, count: int) -> int:
    """``node2`` or ``2`` -> 1; ValueError naming the nodes there are otherwise."""
    digits = name.removeprefix("node")
    if not digits.isdigit() or not 1 <= int(digits) <= count:
        raise ValueError(f"no node {name!r}: the cluster has node1..node{count}")
    return int(digits) - 1


# --- start ------------------------------------------------------------------------------
def start_node(state: ClusterState, i: int, *, wait: bool = True,
               timeout: float = 60.0) -> int:
    """Start node ``i`` on its port; its pid (waits until it is ready when ``wait``)."""
    folder = state.folder / f"node{i + 1}"
    folder.mkdir(exist_ok=True)
    own = state.node_env_each[i] if i < len(state.node_env_each) else {}
    env = {**os.environ, **state.node_env, **own, "DATA_DIR": str(folder / "data")}
    argv = [sys.executable, "-m", "bizra_node.cli", "serve", "--host", "127.0.0.1",
            "--port", str(state.node_ports[i]), "--workers", str(state.workers)]
    # cwd is the node's folder: no .env of the checkout leaks in, and what runs there
    # is the node's (leftovers)
    pid = spawn(argv, state.folder / "logs" / f"node{i + 1}.log", env, folder)
    run = read_run(state.folder, i)
    run.pid, run.started = pid, time.time()
    _write_run(state.folder, i, run)
    if wait:
        wait_node(state, i, timeout)
    return pid


def wait_node(state: ClusterState, i: int, timeout: float) -> None:
    """Until node ``i`` answers /ready with 200; RuntimeError with its log's end when it
    exits first."""
    pid = read_run(state.folder, i).pid

    def ready() -> bool:
        if not alive(pid):
            log = state.folder / "logs" / f"node{i + 1}.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise RuntimeError(f"node{i + 1} exited at start:\n{tail}")
        return http_status(state.node_urls[i] + "/ready") == 200

    wait_for(ready, f"node{i + 1} was not ready", timeout, interval=0.2)


# --- stop -------------------------------------------------------------------------------
def leftovers(state: ClusterState, i: int) -> list[psutil.Process]:
    """Processes of node ``i`` still running: in its folder, ``bizra_node`` on their
    command line (the main process, its workers, orphaned or not, its admin listener)."""
    folder = (state.folder / f"node{i + 1}").resolve()
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        info = proc.info
        if (info["pid"] == os.getpid() or info["cwd"] is None
                or info["status"] == psutil.STATUS_ZOMBIE):
            continue
        cwd = Path(info["cwd"].removesuffix(" (deleted)"))  # Linux, once `down` removed it
        if cwd == folder and "bizra_node" in " ".join(info["cmdline"] or ()):
            found.append(proc)
    return found


def _stop_leftovers(state: ClusterState, i: int, grace: float = LEFTOVER_GRACE) -> int:
    """SIGTERM, then SIGKILL after ``grace`` s, to every leftover; how many there were."""
    procs = leftovers(state, i)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, still = psutil.wait_procs(procs, timeout=grace)
    for proc in still:
        with contextlib.suppress(psutil.Error):
            proc.kill()  # SIGKILL reaches a stopped process too
    psutil.wait_procs(still, timeout=5)
    return len(procs)


def stop_node(state: ClusterState, i: int, *, grace: float = 15.0) -> None:
    """Stop node ``i``: SIGTERM to its main process (drain), its whole process group
    after ``grace`` s, then whatever is left of it (orphaned workers included)."""
    stop_pid(read_run(state.folder, i).pid, grace=grace, group=True)
    _stop_leftovers(state, i)


def kill_node(state: ClusterState, i: int) -> None:
    """SIGKILL node ``i`` and its workers (the whole process group), as a crash would;
    the keeper notices and starts it again."""
    kill_group(read_run(state.folder, i).pid)


def restart_node(state: ClusterState, i: int, *, by: str = "command",
                 timeout: float = 60.0, wait: bool = True) -> int:
    """Stop node ``i`` (if anything of it runs) and start it again, under the cluster's
    lock; counted in its run. Returns the new pid."""
    with cluster_lock(state.folder):
        return restart_held(state, i, by=by, timeout=timeout, wait=wait)


def restart_held(state: ClusterState, i: int, *, by: str, timeout: float = 60.0,
                 wait: bool = True) -> int:
    """:func:`restart_node` for a caller that holds :func:`cluster_lock` already."""
    stop_node(state, i)
    pid = start_node(state, i, wait=False)
    run = read_run(state.folder, i)
    run.restarts += 1
    run.last_restart = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} by {by}"
    _write_run(state.folder, i, run)
    if wait:
        wait_node(state, i, timeout)
    return pid
