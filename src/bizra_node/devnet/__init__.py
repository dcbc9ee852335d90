"""A local anvil devnet and the data seeded into it."""

from __future__ import annotations

from .anvil import Anvil, find_anvil, free_port
from .process import stop_process, wait_ready
from .seed import SeedManifest, rpc, seed, wait_receipt

__all__ = [
    "Anvil",
    "SeedManifest",
    "find_anvil",
    "free_port",
    "rpc",
    "seed",
    "stop_process",
    "wait_ready",
    "wait_receipt",
]
