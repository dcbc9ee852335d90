"""A contract that emits a log on every call (hand-assembled, no compiler needed), and
cast, the Foundry client, as installed by `make setup`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bizra_node.devnet import rpc, wait_receipt

__all__ = ["LOG_TOPIC", "cast_binary", "deploy_emitter", "deploy_logger", "emit", "emit_topics"]

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


# runtime: MSTORE(0, calldata[96:128]); LOG3(0, 32, calldata[0:32], calldata[32:64],
# calldata[64:96]); STOP: the caller chooses the three topics and the data word
_EMITTER_RUNTIME = ("6060356000526040356020356000356020" + "6000" + "a3" + "00")
_EMITTER_INIT = "0x60" + f"{len(_EMITTER_RUNTIME) // 2:02x}" + "80600b6000396000f3" + \
    _EMITTER_RUNTIME


def deploy_emitter(url: str) -> str:
    """Deploy a contract that emits LOG3 with the topics and data word it is called with."""
    sender = rpc(url, "eth_accounts")[0]
    tx = rpc(url, "eth_sendTransaction", [{"from": sender, "data": _EMITTER_INIT,
                                           "gas": hex(200_000)}])
    return str(wait_receipt(url, tx)["contractAddress"])


def emit_topics(url: str, emitter: str, topics: tuple[int, int, int], data: int = 0,
                sender_index: int = 1) -> str:
    """Send one call of the emitter (not waiting for it to be mined); the tx hash."""
    sender = rpc(url, "eth_accounts")[sender_index]
    calldata = "0x" + "".join(f"{v:064x}" for v in (*topics, data))
    return str(rpc(url, "eth_sendTransaction", [{"from": sender, "to": emitter,
                                                 "data": calldata, "gas": hex(60_000)}]))
