"""The consensus light client: the beacon chain's sync committee vouches for the
execution blocks the node anchors on.

From one trusted beacon block root (a weak-subjectivity checkpoint) it follows the sync
committee as the consensus specs' light-client sync protocol does (Altair to Fulu:
bootstrap, period updates, finality and optimistic updates, every BLS signature and
Merkle branch checked), and reports the latest verified finalized and optimistic
execution blocks. ``BeaconSource`` is what the anchor takes; ``bizra-node beacon
verify`` runs the same client once, by hand (command.py).
"""

from __future__ import annotations

from .api import MAX_REQUEST_LIGHT_CLIENT_UPDATES, BeaconApi, BeaconApiError
from .checks import Check, ConsensusError
from .client import Clock, ExecutionHead, LightClient
from .command import add_beacon_parser, run_beacon_command
from .forks import NETWORKS, Fork, NetworkConfig, Preset, load_network, network
from .source import BeaconSource, BeaconSourceConfig

__all__ = [
    "MAX_REQUEST_LIGHT_CLIENT_UPDATES",
    "NETWORKS",
    "BeaconApi",
    "BeaconApiError",
    "BeaconSource",
    "BeaconSourceConfig",
    "Check",
    "Clock",
    "ConsensusError",
    "ExecutionHead",
    "Fork",
    "LightClient",
    "NetworkConfig",
    "Preset",
    "add_beacon_parser",
    "load_network",
    "network",
    "run_beacon_command",
]
