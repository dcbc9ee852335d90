"""ClusterState: saved and loaded as JSON; a missing or broken file is no cluster; each
node's run is a file of its own, changed under the cluster's lock."""

from __future__ import annotations

import json
import multiprocessing
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from bizra_node.cluster import ClusterState, NodeRun, cluster_lock, load, node_index, read_run
from bizra_node.cluster.nodes import _write_run


def test_round_trip_and_addresses(tmp_path: Path) -> None:
    state = ClusterState(root=str(tmp_path), balancer_port=8090, node_ports=[1, 2],
                         redis_port=6390, pg_primary_port=5440,
                         pg_replica_port=5441, pgbouncer_port=6440)
    state.save()
    again = load(tmp_path)
    assert again == state
    assert again.balancer_url == "http://127.0.0.1:8090"
    assert again.node_urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert again.pgbouncer_dsn.endswith(":6440/bizra")
    assert again.redis_url == "redis://127.0.0.1:6390/0"
    assert again.node_pids == [None, None]  # never started
    assert not again.running()  # no pid, no PostgreSQL data folder


def test_no_state_is_no_cluster(tmp_path: Path) -> None:
    assert load(tmp_path) is None
    (tmp_path / "state.json").write_text("{not json")
    assert load(tmp_path) is None


def test_a_state_file_of_an_older_version_loads(tmp_path: Path) -> None:
    """state.json of a cluster started before node runs had files of their own."""
    old = {"root": str(tmp_path), "node_ports": [5], "node_pids": [7]}
    (tmp_path / "state.json").write_text(json.dumps(old))
    state = load(tmp_path)
    assert state is not None and state.node_ports == [5] and state.node_pids == [None]


def test_node_runs_are_read_afresh(tmp_path: Path) -> None:
    state = ClusterState(root=str(tmp_path), node_ports=[1, 2])
    state.save()
    _write_run(tmp_path, 1, NodeRun(pid=123, started=1.0, restarts=2,
                                    last_restart="2026-12-07T18:00:00Z by keeper"))
    assert state.node_pids == [None, 123]  # the same object sees another writer's change
    assert read_run(tmp_path, 1).restarts == 2
    assert read_run(tmp_path, 0) == NodeRun()


def test_node_names() -> None:
    assert node_index("node2", 3) == 1 and node_index("3", 3) == 2
    for bad in ("node0", "node4", "x", ""):
        with pytest.raises(ValueError, match=r"node1\.\.node3"):
            node_index(bad, 3)


def _hold(root: str, ready: Event, release: Event) -> None:
    with cluster_lock(Path(root)):
        ready.set()
        release.wait(30)


def test_the_lock_keeps_out_a_second_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with cluster_lock(tmp_path, wait=False) as held:
            assert not held
    finally:
        release.set()
        holder.join(30)
    with cluster_lock(tmp_path, wait=False) as held:
        assert held
