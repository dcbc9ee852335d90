"""JSON-RPC 2.0 values every layer may use: a call, and an error object in place of a
result. The wire codec for upstreams is chain/codec.py; /rpc's is api/rpc.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Call", "RpcError"]


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC method call; ``params`` must be JSON-serialisable."""

    method: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class RpcError:
    """A JSON-RPC error object the upstream returned for one call of a batch."""

    code: int
    message: str
    data: Any = None

    @property
    def transient(self) -> bool:
        """Errors a retry may cure: server busy, internal error, limits, resource not found
        on a node still syncing. -32602/-32601 (bad params, no method) are permanent."""
        return self.code in (-32603, -32005, -32000, -32002, -32004, 429) or (
            -32099 <= self.code <= -32000 and self.code not in (-32001, -32003)
        )
