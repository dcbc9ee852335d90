"""Talking to upstream EVM nodes over JSON-RPC."""

from __future__ import annotations

from .config import UpstreamConfig
from .pool import UpstreamPool
from .upstream import redact_url

__all__ = ["UpstreamConfig", "UpstreamPool", "redact_url"]
