"""The caching JSON-RPC endpoint's domain: which calls may pass, and how they go upstream.

A web3 client can point at the node as its JSON-RPC URL. Reads pass through to the
upstream pool in one batch per client batch; methods that would sign with the
upstream's keys, administer it or reach into its debug API are refused.
"""

from __future__ import annotations

from typing import Any

from ..chain import Call
from .service import Upstreams

__all__ = ["MAX_BATCH", "RpcService", "method_allowed"]

MAX_BATCH = 100
_ALLOWED_PREFIXES = ("eth_", "net_", "web3_")
_REFUSED = frozenset({
    "eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData",
    "eth_signTypedData_v3", "eth_signTypedData_v4", "eth_accounts", "eth_coinbase",
    "eth_submitWork", "eth_submitHashrate", "eth_subscribe", "eth_unsubscribe",
})


def method_allowed(method: str) -> bool:
    return method.startswith(_ALLOWED_PREFIXES) and method not in _REFUSED


class RpcService:
    """Forwards allowed calls; results come back in call order (RpcError values for
    per-call upstream errors)."""

    def __init__(self, upstreams: Upstreams, *, timeout: float | None = None) -> None:
        self._up = upstreams
        self._timeout = timeout

    async def forward(self, calls: list[Call]) -> list[Any]:
        if not calls:
            return []
        results = await self._up.batch(calls, timeout=self._timeout)
        return list(results)
