"""Scaling out on one machine: a local cluster of nodes behind HAProxy, sharing Redis and
PostgreSQL (primary + streaming replica behind PgBouncer); ``bizra-node cluster``."""

from __future__ import annotations

from .haproxy import render_config, server_states
from .local import (
    ClusterAlreadyUp,
    ClusterSpec,
    ClusterState,
    down,
    kill_node,
    load,
    start_node,
    status,
    up,
    wait_balanced,
)
from .postgres import PG_BIN, PgCluster, can_run_clusters

__all__ = [
    "PG_BIN",
    "ClusterAlreadyUp",
    "ClusterSpec",
    "ClusterState",
    "PgCluster",
    "can_run_clusters",
    "down",
    "kill_node",
    "load",
    "render_config",
    "server_states",
    "start_node",
    "status",
    "up",
    "wait_balanced",
]
