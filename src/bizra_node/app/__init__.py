"""The assembly: each component's config from the settings (configs.py), each
network's components (network.py), the node of one worker (node.py), the networks of
the configuration file (config_file.py), and the factories granian calls."""

from __future__ import annotations

from .config_file import CONFIG_ENV, NETWORK_KEYS, Networks, load_networks, networks_from
from .configs import (
    beacon_source_config,
    cache_config,
    chain_view_config,
    follow_config,
    guard_config,
    limiter_config,
    pool_options,
    redis_config,
    rpc_limits,
    store_config,
    upstream_config,
    ws_targets,
)
from .network import ConsensusAnchor, Edge, Network, Reorgs, open_heads
from .node import (
    AdminNode,
    Node,
    Security,
    create_admin_rsgi_app,
    create_asgi_app,
    create_rsgi_app,
    metrics_directory,
    serving_node,
)

__all__ = [
    "CONFIG_ENV",
    "NETWORK_KEYS",
    "AdminNode",
    "ConsensusAnchor",
    "Edge",
    "Network",
    "Networks",
    "Node",
    "Reorgs",
    "Security",
    "beacon_source_config",
    "cache_config",
    "chain_view_config",
    "create_admin_rsgi_app",
    "create_asgi_app",
    "create_rsgi_app",
    "follow_config",
    "guard_config",
    "limiter_config",
    "load_networks",
    "metrics_directory",
    "networks_from",
    "open_heads",
    "pool_options",
    "redis_config",
    "rpc_limits",
    "serving_node",
    "store_config",
    "upstream_config",
    "ws_targets",
]
