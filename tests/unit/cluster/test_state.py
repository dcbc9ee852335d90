"""ClusterState: saved and loaded as JSON; a missing or broken file is no cluster."""

from __future__ import annotations

from pathlib import Path

from bizra_node.cluster import ClusterState, load


def test_round_trip_and_addresses(tmp_path: Path) -> None:
    state = ClusterState(root=str(tmp_path), balancer_port=8090, node_ports=[1, 2],
                         node_pids=[None, None], redis_port=6390, pg_primary_port=5440,
                         pg_replica_port=5441, pgbouncer_port=6440)
    state.save()
    again = load(tmp_path)
    assert again == state
    assert again.balancer_url == "http://127.0.0.1:8090"
    assert again.node_urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert again.pgbouncer_dsn.endswith(":6440/bizra")
    assert again.redis_url == "redis://127.0.0.1:6390/0"
    assert not again.running()  # no pid, no PostgreSQL data folder


def test_no_state_is_no_cluster(tmp_path: Path) -> None:
    assert load(tmp_path) is None
    (tmp_path / "state.json").write_text("{not json")
    assert load(tmp_path) is None
