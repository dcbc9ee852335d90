"""A cluster node that dies comes back: the cluster's keeper starts it again,
`bizra-node cluster restart NODE` does it on demand, `cluster status` counts both; and
killing a node's main process (the pid `cluster status` prints) takes its workers
along instead of leaving one serving on the node's port."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import psutil
import pytest

from bizra_node.cli import main
from bizra_node.cluster import kill_node, load, status, wait_balanced
from bizra_node.cluster.keeper import NODE_BACKOFF
from bizra_node.cluster.procs import http_status

from .conftest import LocalCluster


def node_status(cluster: LocalCluster, i: int) -> dict[str, Any]:
    found = status(cluster.state.folder)
    assert found is not None
    node: dict[str, Any] = found["nodes"][i]
    return node


def wait_restarted(cluster: LocalCluster, i: int, old_pid: int, restarts: int,
                   timeout: float = 60) -> dict[str, Any]:
    """Node ``i``'s status once it runs again under a new pid, ready, ``restarts`` counted."""
    deadline = time.monotonic() + timeout
    while True:
        node = node_status(cluster, i)
        if (node["alive"] and node["pid"] != old_pid and node["restarts"] >= restarts
                and http_status(node["url"] + "/ready") == 200):
            return node
        assert time.monotonic() < deadline, f"node{i + 1} did not come back: {node}"
        time.sleep(0.2)


def test_a_killed_node_is_started_again_by_the_cluster(local_cluster: LocalCluster) -> None:
    state = local_cluster.state
    before = node_status(local_cluster, 2)
    assert before["alive"]
    kill_node(state, 2)  # SIGKILL to its whole process group
    node = wait_restarted(local_cluster, 2, before["pid"], before["restarts"] + 1)
    assert node["restarts"] == before["restarts"] + 1
    assert node["last_restart"].endswith("by keeper")
    wait_balanced(state, 30)  # HAProxy has it UP again


def test_killing_the_main_process_takes_its_workers_along(local_cluster: LocalCluster) -> None:
    """kill -9 of the pid status prints, not of its group: the worker gets its parent's
    death signal and exits, the port is free for the node's next start."""
    state = local_cluster.state
    before = node_status(local_cluster, 0)
    workers = psutil.Process(before["pid"]).children()
    assert workers, "a node runs its worker as a child of its main process"
    os.kill(before["pid"], signal.SIGKILL)
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"orphaned workers live on: {[p.pid for p in alive]}"
    wait_restarted(local_cluster, 0, before["pid"], before["restarts"] + 1)
    wait_balanced(state, 30)


def test_cluster_restart_command(local_cluster: LocalCluster,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = str(local_cluster.state.folder)
    before = node_status(local_cluster, 1)
    assert main(["cluster", "restart", "node2", "--dir", root]) == 0
    assert "node2 restarted" in capsys.readouterr().err
    node = node_status(local_cluster, 1)
    assert node["alive"] and node["pid"] != before["pid"]
    assert node["restarts"] == before["restarts"] + 1
    assert node["last_restart"].endswith("by command")
    assert http_status(node["url"] + "/ready") == 200  # ready when the command returns
    wait_balanced(local_cluster.state, 30)
    assert main(["cluster", "status", "--dir", root]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["keeper"]["alive"]
    assert shown["nodes"][1]["restarts"] == node["restarts"]


def test_cluster_restart_of_a_dead_node_and_bad_names(local_cluster: LocalCluster,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = str(local_cluster.state.folder)
    assert main(["cluster", "restart", "node9", "--dir", root]) == 2
    assert "node1..node3" in capsys.readouterr().err
    assert main(["cluster", "restart", "--dir", root]) == 2
    assert main(["cluster", "restart", "node1", "--dir", root + "-none"]) == 1
    before = node_status(local_cluster, 1)
    kill_node(local_cluster.state, 1)
    assert main(["cluster", "restart", "2", "--dir", root]) == 0  # the keeper may race it
    node = node_status(local_cluster, 1)
    assert node["alive"] and node["pid"] != before["pid"]
    assert http_status(node["url"] + "/ready") == 200


def test_a_node_that_cannot_start_is_tried_again_ever_later(
        local_cluster: LocalCluster) -> None:
    """A node whose settings are broken exits at each start: the keeper keeps trying,
    each time after the next delay of its backoff, and never gives up; fixed, the node
    is back with `cluster restart`."""
    state = local_cluster.state
    broken = load(state.folder)
    assert broken is not None
    broken.node_env_each[2] = {**broken.node_env_each[2], "LOG_LEVEL": "bogus"}
    log = state.folder / "logs" / "keeper.log"
    seen_before = log.read_text().count("node3 (pid")
    try:
        broken.save()  # the keeper starts nodes from state.json: node3 now exits at once
        kill_node(state, 2)
        deadline = time.monotonic() + 120
        while True:
            lines = [line for line in log.read_text().splitlines() if "node3 (pid" in line]
            tries = lines[seen_before:]
            if len(tries) >= 4:
                break
            assert time.monotonic() < deadline, f"the keeper stopped trying: {tries}"
            time.sleep(0.2)
        for line in tries:
            found = re.search(r"starting it again in ([\d.]+) s \((\d+) in a row\)", line)
            assert found, line
            assert float(found[1]) == NODE_BACKOFF.delay(int(found[2])), line
        streaks = [int(re.findall(r"\((\d+) in a row\)", line)[0]) for line in tries]
        assert streaks == list(range(streaks[0], streaks[0] + len(streaks)))  # one streak
        assert node_status(local_cluster, 2)["restarts"] >= 3
    finally:
        state.save()  # the settings the cluster was started with
    assert main(["cluster", "restart", "node3", "--dir", str(state.folder)]) == 0
    wait_balanced(state, 30)
