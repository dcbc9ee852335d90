"""Talking to upstream EVM nodes over JSON-RPC."""

from __future__ import annotations

from .config import UpstreamConfig
from .follow import FollowConfig, HeadFollower, HeadListener
from .pool import UpstreamPool
from .upstream import redact_url
from .ws import SubscriptionFeed, UpstreamSubscription, WsTarget, ws_url

__all__ = [
    "FollowConfig",
    "HeadFollower",
    "HeadListener",
    "SubscriptionFeed",
    "UpstreamConfig",
    "UpstreamPool",
    "UpstreamSubscription",
    "WsTarget",
    "redact_url",
    "ws_url",
]
