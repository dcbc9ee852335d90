"""The set of upstreams the node may ask, with simple failover.

Resilience policy (breakers, retries, hedging, head tracking) wraps this in
``chain/`` using mechanisms from ``resilience/``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from ..errors import UpstreamError, UpstreamUnavailable
from ..observability import UpstreamErrorLog
from ..settings import Settings
from .jsonrpc import Call
from .upstream import Upstream

__all__ = ["UpstreamPool"]

log = logging.getLogger("bizra_node.upstream")


class UpstreamPool:
    """Owns one aiohttp session (one keep-alive pool per worker) and the upstreams."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self.upstreams: list[Upstream] = []
        self._next = 0
        self._errors = UpstreamErrorLog(log)
        """Every failed upstream call is logged with upstream and method (throttled)."""

    async def start(self) -> None:
        s = self._settings
        connector = aiohttp.TCPConnector(limit=s.rpc_pool_limit, limit_per_host=s.rpc_pool_limit,
                                         keepalive_timeout=s.rpc_keepalive, ttl_dns_cache=300,
                                         enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                              skip_auto_headers=("User-Agent",))
        self.upstreams = [
            Upstream(url, self._session, timeout=s.rpc_timeout,
                     connect_timeout=s.rpc_connect_timeout, use_batch=s.rpc_batch)
            for url in s.upstream_urls
        ]
        if not self.upstreams:
            raise ValueError("no upstream configured: set BIZRA_NODE_URL")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _order(self) -> list[Upstream]:
        n = len(self.upstreams)
        start = self._next % n
        self._next += 1
        return self.upstreams[start:] + self.upstreams[:start]

    async def batch(self, calls: list[Call], *, timeout: float | None = None) -> list[Any]:
        """Ask the upstreams in turn until one answers all calls."""
        last: UpstreamError | None = None
        for upstream in self._order():
            try:
                return await upstream.batch(calls, timeout)
            except UpstreamError as exc:
                self._errors.record(exc, (c.method for c in calls))
                last = exc
                if not exc.retryable:
                    break
        raise UpstreamUnavailable(
            "no upstream could answer",
            {"reason": last.message if last else "no upstream", "kind": last.kind if last else ""},
        )

    async def call(self, call: Call, *, timeout: float | None = None) -> Any:
        return (await self.batch([call], timeout=timeout))[0]

    async def ping(self, timeout: float = 2.0) -> dict[str, Any]:
        """Readiness: eth_blockNumber on each upstream, concurrently."""
        async def one(u: Upstream) -> tuple[str, dict[str, Any]]:
            try:
                head = await u.call(Call("eth_blockNumber"), timeout)
                return u.name, {"ok": isinstance(head, str), "head": head}
            except UpstreamError as exc:
                return u.name, {"ok": False, "error": exc.message}
        results = await asyncio.gather(*(one(u) for u in self.upstreams))
        return dict(results)
