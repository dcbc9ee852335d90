"""Reorgs on anvil for tests: a transfer signed once (so the same transaction can be
dropped by a reorg and mined again, or moved into the replacing blocks), and the
upstream's view of a block."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bizra_node.devnet import rpc

__all__ = ["signed_transfer", "until", "upstream_block", "upstream_receipt"]


def signed_transfer(url: str, sender: str, to: str) -> str:
    """A raw legacy transfer of 1 wei from ``sender`` (an anvil account) at its next
    nonce."""
    nonce = rpc(url, "eth_getTransactionCount", [sender, "pending"])
    return str(rpc(url, "eth_signTransaction", [{
        "from": sender, "to": to, "value": "0x1", "gas": "0x5208", "nonce": nonce,
        "gasPrice": "0x3b9aca00", "chainId": rpc(url, "eth_chainId", [])}]))


def upstream_block(url: str, number: int) -> dict[str, Any]:
    return dict(rpc(url, "eth_getBlockByNumber", [hex(number), False]))


def upstream_receipt(url: str, tx_hash: str) -> dict[str, Any] | None:
    receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
    return None if receipt is None else dict(receipt)


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> float:
    """Wait for ``check``; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not reached: {what or check}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start
