"""JSON-RPC 2.0 values every layer may use: a call, an error object in place of a
result (and what a retry can do about it), and the limits of the node's JSON-RPC
endpoint. The wire codec for upstreams is chain/codec.py; /rpc's is api/rpc.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .faults import Fault, classify

__all__ = ["BLOCK_PARAM", "INTEGRITY_FAILED", "LIMIT_EXCEEDED", "RESPONSE_TOO_LARGE", "Call",
           "RpcError", "RpcLimits", "hex_number"]

LIMIT_EXCEEDED = -32005
"""EIP-1474 "limit exceeded": a request over one of the node's limits (a getLogs block
range, too many subscriptions)."""
RESPONSE_TOO_LARGE = -32003
"""geth's code for an answer over its response size limit."""
INTEGRITY_FAILED = -32099
"""The node's own (implementation-defined server error range): no upstream gave an
answer that passed the node's checks; ``data`` names the check and the upstream."""


BLOCK_PARAM = {
    "eth_getBalance": 1, "eth_getCode": 1, "eth_getTransactionCount": 1, "eth_getStorageAt": 2,
    "eth_call": 1, "eth_estimateGas": 1, "eth_createAccessList": 1, "eth_getProof": 2,
    "eth_getBlockByNumber": 0, "eth_getBlockTransactionCountByNumber": 0,
    "eth_getBlockReceipts": 0, "eth_getTransactionByBlockNumberAndIndex": 0,
    "eth_getUncleCountByBlockNumber": 0, "eth_getUncleByBlockNumberAndIndex": 0,
    "eth_feeHistory": 1,
}
"""Method -> index of its block parameter (a number, a tag such as 'latest', or an
EIP-1898 object); eth_getLogs names its blocks inside its filter object."""


def hex_number(value: Any) -> int | None:
    """A block number given as a 0x-hex quantity of at most 64 bits, else None (a tag,
    an EIP-1898 object, malformed)."""
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 18:
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


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
    def fault(self) -> Fault:
        """Whose fault it is: the caller's, the upstream's, or a block or state the
        upstream does not have (the table in faults.py)."""
        return classify(self.code, self.message)

    @property
    def transient(self) -> bool:
        """The upstream's own trouble, which a retry (later or elsewhere) may cure."""
        return classify(self.code, self.message) is Fault.UPSTREAM

    @property
    def lagging(self) -> bool:
        """The upstream says it does not have the block or state asked for ("header not
        found", "missing trie node", anvil's BlockOutOfRange...). A retry elsewhere
        helps only when some upstream has that block: the caller decides with the head."""
        return classify(self.code, self.message) is Fault.MISSING


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcLimits:
    """The limits of the node's JSON-RPC endpoint (/rpc over HTTP and WebSocket), in
    one place; app/ builds them from the RPC_* and WS_* settings. Each is answered
    with its own JSON-RPC error (README, "JSON-RPC endpoint")."""

    max_batch: int = 1000
    """Calls in one batch (geth's default); more: one -32600 "batch too large"."""
    max_body: int = 5 * 1024 * 1024
    """Bytes of one /rpc request body or WebSocket message (geth's default, 5 MiB)."""
    max_response: int = 25_000_000
    """Bytes of one answer (a batch's answers add up); calls past it get -32003."""
    max_logs_range: int = 10_000
    """Blocks one eth_getLogs (or a filter's poll) may span; more: -32005."""
    ws_buffer: int = 1024
    """Messages waiting for one WebSocket client; a client that lets more pile up
    is disconnected (a slow client is dropped, never the node)."""
    ws_subscriptions: int = 128
    """Subscriptions one WebSocket client may hold; more: -32005."""

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_body", "max_response", "max_logs_range", "ws_buffer",
                     "ws_subscriptions"):
            if getattr(self, name) < 1:
                raise ValueError(f"RpcLimits.{name} must be at least 1")
