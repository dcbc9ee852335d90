"""Talking to upstream EVM nodes over JSON-RPC."""

from __future__ import annotations

from .jsonrpc import Call, RpcError
from .pool import UpstreamPool
from .upstream import Upstream, redact_url

__all__ = ["Call", "RpcError", "Upstream", "UpstreamPool", "redact_url"]
