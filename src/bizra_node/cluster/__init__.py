"""Scaling out on one machine: a local cluster of nodes behind HAProxy, sharing Redis and
PostgreSQL (primary + streaming replica behind PgBouncer); ``bizra-node cluster``."""

from __future__ import annotations

from .haproxy import render_config, server_states
from .local import (
    ClusterAlreadyUp,
    ClusterSpec,
    ClusterState,
    down,
    load,
    start_keeper,
    status,
    up,
    wait_balanced,
)
from .nodes import (
    NodeRun,
    cluster_lock,
    kill_node,
    leftovers,
    node_index,
    read_run,
    restart_node,
    start_node,
    stop_node,
)
from .postgres import PG_BIN, PgCluster, can_run_clusters

__all__ = [
    "PG_BIN",
    "ClusterAlreadyUp",
    "ClusterSpec",
    "ClusterState",
    "NodeRun",
    "PgCluster",
    "can_run_clusters",
    "cluster_lock",
    "down",
    "kill_node",
    "leftovers",
    "load",
    "node_index",
    "read_run",
    "render_config",
    "restart_node",
    "server_states",
    "start_keeper",
    "start_node",
    "status",
    "stop_node",
    "up",
    "wait_balanced",
]
