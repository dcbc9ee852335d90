"""The cluster's keeper: a small process that starts again any node that died.

``cluster up`` starts it (``python -m bizra_node.cluster.keeper ROOT``, detached, its
log in ``logs/keeper.log``, its pid in ``state.json``); ``cluster down`` stops it first,
so it never restarts what is being stopped. Every ``INTERVAL`` seconds it looks at each
node's pid; a node found dead is restarted (:func:`nodes.restart_held`: whatever is left
of it stopped, then started on its port, counted in its run, shown by ``cluster
status``). At once the first time, then after a delay doubling from 1 s to 60 s while
the node keeps dying within 30 s of its start (``bizra_node.server.RestartSchedule``,
the rule the node itself applies to its workers): a node that cannot start is tried
again, slowly, for ever.

It watches the nodes only; HAProxy, Redis, PostgreSQL and PgBouncer are not restarted
(``cluster down`` and ``up`` do that). For real deployments the engine that runs the
nodes does this job (Kubernetes, Compose's ``restart:``, systemd).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from ..server import Backoff, RestartSchedule
from .local import ClusterState, load
from .nodes import cluster_lock, read_run, restart_held
from .procs import alive

__all__ = ["INTERVAL", "NODE_BACKOFF", "Keeper", "main"]

log = logging.getLogger("bizra_node.cluster.keeper")

INTERVAL = 0.5
"""Seconds between two looks at the nodes (a dead node is noticed within this)."""
NODE_BACKOFF = Backoff(first=1.0, cap=60.0, stable_after=30.0)


class Keeper:
    """One pass over the nodes per :meth:`tick`; :meth:`run` until ``stop`` is set or
    the cluster is gone."""

    def __init__(self, root: Path, schedule: RestartSchedule | None = None) -> None:
        self.root = root
        self.schedule = schedule or RestartSchedule(NODE_BACKOFF)

    def tick(self) -> bool:
        """Look at every node, restart the ones due; False once the cluster is gone."""
        state = load(self.root)
        if state is None:
            return False
        with cluster_lock(self.root, wait=False) as held:
            if held:  # else a `cluster restart` is at work: look again next time
                self._pass(state)
        return True

    def _pass(self, state: ClusterState) -> None:
        for i in range(len(state.node_ports)):
            run = read_run(self.root, i)
            if alive(run.pid) or i in self.schedule.due:
                continue
            lived = time.time() - run.started
            delay = self.schedule.died(i, lived)
            log.error("node%d (pid %s) is gone after %.1f s; starting it again in %.1f s "
                      "(%d in a row)", i + 1, run.pid, lived, delay, self.schedule.streaks[i])
        for i in self.schedule.pop_due():
            if alive(read_run(self.root, i).pid):
                continue  # started by someone else meanwhile
            pid = restart_held(state, i, by="keeper", wait=False)
            log.warning("node%d started again: pid %d", i + 1, pid)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.tick():
                    log.warning("no cluster under %s any more: the keeper stops", self.root)
                    return
            except Exception:  # one bad pass (a node folder removed under us) is logged
                log.exception("keeper pass failed")
            stop.wait(INTERVAL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bizra_node.cluster.keeper CLUSTER_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def stopping(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    root = Path(args[0]).resolve()
    log.info("keeping the nodes of %s running (pid %d)", root, os.getpid())
    Keeper(root).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
