"""What the upstream pool is told at start: one object, built by app/ from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..resilience import BreakerConfig

__all__ = ["UpstreamConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamConfig:
    urls: tuple[str, ...]
    """Upstream JSON-RPC URLs, in the order they were configured."""
    name_prefix: str = ""
    """Put before each upstream's name in metrics and logs (a node serving several
    networks: ``10/host:port``, so two networks' upstreams never share a series)."""
    timeout: float = 5.0
    """Per-call timeout, s (a request's deadline may cut it shorter)."""
    connect_timeout: float = 2.0
    max_response: int = 32 * 1024 * 1024
    """Largest answer body read from an upstream, bytes (UPSTREAM_MAX_RESPONSE_BYTES)."""
    pool_limit: int = 512
    keepalive: float = 15.0
    batch: bool = True
    """Send related calls as one JSON-RPC batch (falls back when an upstream refuses)."""
    sequential: bool = False
    """One call per round trip, in order (only for `bench suite`'s 'before' baseline)."""
    force_close: bool = False
    """A new connection per call (only for `bench suite`'s 'before' baseline)."""
    attempts: int = 3
    backoff_initial: float = 0.1
    backoff_multiplier: float = 2.0
    backoff_max: float = 2.0
    retry_budget_ratio: float = 0.1
    retry_budget_min: float = 10.0
    retry_budget_window: float = 10.0
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    hedge: bool = True
    hedge_delay: float = 0.0
    """0: the upstream's recent p95."""
    hedge_min_delay: float = 0.01
    hedge_budget_ratio: float = 0.05
    head_poll_interval: float = 2.0
    """With several upstreams, poll each one's head this often, s; 0 = off."""
    head_lag_blocks: int = 3
    head_quorum: int = 1
    chain_id: int | None = None
    """The node's network (BIZRA_NETWORK_ID): an upstream that answers another
    eth_chainId is out of service; None: not checked."""
    """Upstreams that must have reached a block before the node's head moves to it
    (HEAD_QUORUM; capped at the number of upstreams in service)."""

    def __post_init__(self) -> None:
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"UpstreamConfig: not an http(s) URL: {url!r}")
        for name in ("timeout", "connect_timeout", "keepalive", "retry_budget_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"UpstreamConfig.{name} must be positive")
        if self.max_response < 1:
            raise ValueError("UpstreamConfig.max_response must be positive")
        if self.attempts < 1 or self.pool_limit < 1:
            raise ValueError("UpstreamConfig.attempts and pool_limit must be at least 1")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("UpstreamConfig.backoff_max must be >= backoff_initial")
        if self.head_quorum < 1:
            raise ValueError("UpstreamConfig.head_quorum must be at least 1")
        if self.head_poll_interval < 0 or self.head_lag_blocks < 0:
            raise ValueError("UpstreamConfig.head_poll_interval and head_lag_blocks must be >= 0")

    @property
    def worst_case(self) -> float:
        """The longest one pool call can take when no request deadline bounds it
        (background work): every attempt timing out after its backoff."""
        return self.attempts * (self.timeout + self.backoff_max)
