"""One node's process tree: granian's main process replacing workers that die
(however often), ports checked before anything listens."""

from __future__ import annotations

from .ports import PortUnavailable, check_port
from .restarts import Backoff, RestartSchedule
from .supervisor import SupervisedGranian, describe_exit

__all__ = ["Backoff", "PortUnavailable", "RestartSchedule", "SupervisedGranian", "check_port",
           "describe_exit"]
