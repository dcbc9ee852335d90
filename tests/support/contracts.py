"""A contract that emits a log on every call (hand-assembled, no compiler needed), and
cast, the Foundry client, as installed by `make setup`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bizra_node.devnet import rpc, wait_receipt

__all__ = ["LOG_TOPIC", "cast_binary", "deploy_logger", "emit"]

LOG_TOPIC = "0x" + "ab" * 32
# runtime: PUSH32 topic, PUSH1 0 (size), PUSH1 0 (offset), LOG1, STOP
_RUNTIME = "7f" + LOG_TOPIC[2:] + "6000" + "6000" + "a1" + "00"
# init: PUSH1 len DUP1 PUSH1 11 PUSH1 0 CODECOPY PUSH1 0 RETURN, then the runtime
_INIT = "0x60" + f"{len(_RUNTIME) // 2:02x}" + "80600b6000396000f3" + _RUNTIME


def deploy_logger(url: str) -> str:
    """Deploy the logger from anvil's first (unlocked) account; its address."""
    sender = rpc(url, "eth_accounts")[0]
    tx = rpc(url, "eth_sendTransaction", [{"from": sender, "data": _INIT, "gas": hex(200_000)}])
    return str(wait_receipt(url, tx)["contractAddress"])


def emit(url: str, logger: str, sender_index: int = 1) -> str:
    """One call of the logger (one log in a block of its own with automine); the tx hash."""
    sender = rpc(url, "eth_accounts")[sender_index]
    tx = str(rpc(url, "eth_sendTransaction", [{"from": sender, "to": logger, "gas": hex(60_000)}]))
    wait_receipt(url, tx)
    return tx


_CAST = Path(".devnet/node_modules/@foundry-rs/cast-linux-amd64/bin/cast")


def cast_binary() -> str | None:
    """CAST_BIN, else the project's .devnet install (`make setup`), else PATH."""
    env = os.environ.get("CAST_BIN")
    if env:
        return env
    root = Path(__file__).resolve().parents[2]
    if (root / _CAST).is_file():
        return str(root / _CAST)
    return shutil.which("cast")
