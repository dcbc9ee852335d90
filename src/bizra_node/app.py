"""Builds the node: components are created in the lifespan and passed down.

No module-level singletons: each worker process (and each test) builds its own
``Node`` from a ``Settings``. ``create_rsgi_app`` / ``create_asgi_app`` are the
factories granian calls in each worker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from .api import (
    ASGIApp,
    Dispatcher,
    HistoryRoutes,
    MetricsEndpoints,
    ReadyCheck,
    Request,
    Response,
    Routes,
    RSGIApp,
    openapi_document,
)
from .api.rpc import RpcRoute
from .cache import TieredCache, TtlPolicy
from .chain import UpstreamPool
from .observability import Exporter, MemoryGuard, NodeMetrics, configure_logging
from .settings import Settings
from .store import Store
from .validation import ValidationService
from .validation.rpc import RpcService

__all__ = ["Node", "create_asgi_app", "create_rsgi_app"]

log = logging.getLogger("bizra_node")


class Node:
    """All components of one worker, started and stopped in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = NodeMetrics()
        self.upstreams = UpstreamPool(settings, self.metrics)
        self.cache = TieredCache(settings, self.metrics)
        self.store = Store(settings, self.metrics) if settings.db_enabled else None
        self.service = ValidationService(self.upstreams, network_id=settings.bizra_network_id,
                                         finality_depth=settings.finality_depth,
                                         timeout=settings.request_deadline, cache=self.cache,
                                         head_refresh_ahead=settings.head_refresh_ahead,
                                         recorder=self.store.recorder if self.store else None)
        ready_checks: dict[str, ReadyCheck] = {"upstream": self._upstream_ready,
                                               "redis": self.cache.ready}
        if self.store is not None:
            ready_checks["database"] = self.store.ready
        self.routes = Routes(self.service, ready_checks=ready_checks,
                             bench_endpoints=settings.bench_endpoints)
        self.dispatcher = Dispatcher(self.routes.table, self.routes.prefixes,
                                     settings.max_body_bytes,
                                     self.metrics if settings.metrics_enabled else None,
                                     deadline=settings.request_deadline, fast=self.routes.fast)
        self.exporter = Exporter(self.metrics, directory=settings.prometheus_multiproc_dir,
                                 flush_interval=settings.metrics_flush_interval,
                                 enabled=settings.metrics_enabled)
        self.memory_guard = MemoryGuard(
            self.metrics, limit=settings.memory_limit, workers=settings.workers,
            interval=settings.memory_check_interval, high_ratio=settings.memory_high_ratio,
            critical_ratio=settings.memory_critical_ratio)
        self.memory_guard.add_target(self.cache)
        for (method, path), handler in MetricsEndpoints(self.exporter).table.items():
            self.dispatcher.add(method, path, handler)
        history = HistoryRoutes(self.store.history if self.store else None)
        for (method, path), handler in history.table.items():
            self.dispatcher.add(method, path, handler)
        openapi = msgspec.json.encode(openapi_document())

        async def serve_openapi(req: Request) -> Response:
            return Response(200, openapi)

        self.dispatcher.add("GET", "/openapi.json", serve_openapi)
        self.rpc = RpcRoute(RpcService(
            self.upstreams, cache=self.cache, policy=TtlPolicy.from_settings(settings),
            head=self.service.head, finalized=self.service.finalized,
            timeout=settings.request_deadline))
        self.dispatcher.add("POST", "/rpc", self.rpc.handle)
        self._started = False

    async def _upstream_ready(self) -> dict[str, Any]:
        """Ready when at least one upstream answers; each is listed with its breaker
        state and counters."""
        upstreams = await self.upstreams.ping(timeout=min(2.0, self.settings.rpc_timeout))
        return {"ok": any(u["ok"] for u in upstreams.values()), "upstreams": upstreams}

    async def start(self) -> None:
        await self.upstreams.start()
        await self.cache.start()
        if self.store is not None:
            await self.store.start()  # migrate, pools, writer, monitor
        self.exporter.start()
        self.memory_guard.start()
        self._started = True
        log.info("node started", extra={"upstreams": [u.name for u in self.upstreams.upstreams],
                                        "network_id": self.settings.bizra_network_id})

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.memory_guard.stop()
        await self.service.close()
        await self.cache.close()
        await self.upstreams.close()
        if self.store is not None:  # no validations can be produced any more: flush them
            await self.store.stop()  # flush the write-behind queue, then close the pools
        await self.exporter.stop()
        await asyncio.sleep(0)  # let aiohttp close its transports
        log.info("node stopped")


def create_rsgi_app() -> RSGIApp:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return RSGIApp(Node(settings))


def create_asgi_app() -> ASGIApp:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return ASGIApp(Node(settings))
