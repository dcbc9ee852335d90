"""`cluster down` stops everything the cluster started, orphans included: a
worker whose node's main process was killed with SIGKILL, and which did not stop on its
own (stopped, so its parent-death signal waits), kept listening and serving; `down`
skipped it because the pid it knew was gone. A cluster of its own: this kills nodes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import psutil
import pytest

from bizra_node.cluster import ClusterSpec, down, leftovers, load, up
from tests.conftest import Devnet

from .conftest import missing_cluster_tools


def test_down_stops_an_orphaned_worker(devnet: Devnet) -> None:
    reason = missing_cluster_tools()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="bizra-cluster-down-"))
    orphan: psutil.Process | None = None
    try:
        # no keeper: it would clear the orphan itself before `down` is asked to
        state = up(ClusterSpec(root=root, nodes=1, workers=1, port=0, upstream=devnet.url,
                               env={"LOG_LEVEL": "warning"}, keep_nodes=False))
        main_pid = state.node_pids[0]
        assert main_pid is not None
        (orphan,) = psutil.Process(main_pid).children()
        orphan.suspend()  # SIGSTOP: a hung worker, its SIGTERM from the kernel waits
        os.kill(main_pid, signal.SIGKILL)
        psutil.Process(main_pid).wait(10)
        assert orphan.is_running() and orphan.ppid() != main_pid
        assert [p.pid for p in leftovers(state, 0)] == [orphan.pid]
        assert down(root)
        assert not orphan.is_running(), "down left the orphaned worker running"
        assert load(root) is None
    finally:
        if orphan is not None:
            with contextlib.suppress(psutil.Error):
                orphan.kill()
        if load(root) is not None:
            down(root)
        shutil.rmtree(root, ignore_errors=True)
