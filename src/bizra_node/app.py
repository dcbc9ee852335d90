"""Builds the node: each component's config from the settings, then the components.

This is the one place that reads ``Settings``: every package below takes its own
config object (``UpstreamConfig``, ``CacheConfig``, ``StoreConfig``,
``ChainViewConfig``...), built here once, and checks it. No module-level singletons:
each worker process (and each test) builds its own ``Node``. ``create_rsgi_app`` /
``create_asgi_app`` are the factories granian calls in each worker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .api import (
    ASGIApp,
    Dispatcher,
    HistoryRoutes,
    MetricsEndpoints,
    ReadyCheck,
    Routes,
    RpcRoute,
    RSGIApp,
    openapi_routes,
)
from .cache import CacheConfig, TieredCache, TtlPolicy
from .chain import UpstreamConfig, UpstreamPool
from .observability import Exporter, MemoryGuard, NodeMetrics, configure_logging
from .resilience import BreakerConfig
from .settings import Settings
from .store import MonitorThresholds, PgBouncerConfig, PoolOptions, Store, StoreConfig
from .validation import ChainView, ChainViewConfig, RpcService, ValidationService

__all__ = [
    "Node",
    "cache_config",
    "chain_view_config",
    "create_asgi_app",
    "create_rsgi_app",
    "pgbouncer_config",
    "pool_options",
    "store_config",
    "upstream_config",
]

log = logging.getLogger("bizra_node")


# --- settings -> each component's config ----------------------------------------------
def upstream_config(s: Settings) -> UpstreamConfig:
    return UpstreamConfig(
        urls=tuple(s.upstream_urls), timeout=s.rpc_timeout,
        connect_timeout=s.rpc_connect_timeout, pool_limit=s.rpc_pool_limit,
        keepalive=s.rpc_keepalive, batch=s.rpc_batch, sequential=s.rpc_sequential,
        force_close=s.rpc_force_close, attempts=s.retry_attempts,
        backoff_initial=s.retry_initial, backoff_multiplier=s.retry_multiplier,
        backoff_max=s.retry_max, retry_budget_ratio=s.retry_budget_ratio,
        retry_budget_min=s.retry_budget_min, retry_budget_window=s.retry_budget_window,
        breaker=BreakerConfig(failure_threshold=s.cb_failure_threshold,
                              failure_rate=s.cb_failure_rate,
                              volume_threshold=s.cb_volume_threshold, window=s.cb_window,
                              window_slots=s.cb_window_size, reset_timeout=s.cb_reset_timeout,
                              half_open_probes=s.cb_half_open_probes),
        hedge=s.hedge_enabled, hedge_delay=s.hedge_delay, hedge_min_delay=s.hedge_min_delay,
        hedge_budget_ratio=s.hedge_budget_ratio, head_poll_interval=s.head_poll_interval,
        head_lag_blocks=s.head_lag_blocks)


def cache_config(s: Settings) -> CacheConfig:
    return CacheConfig(
        network_id=s.bizra_network_id,
        policy=TtlPolicy(final=s.ttl_final, recent=s.ttl_recent, pending=s.ttl_pending,
                         address=s.ttl_address, head=s.ttl_head, not_found=s.ttl_not_found),
        l1_entries=s.l1_cache_size, l1_max_bytes=s.l1_max_bytes, l1_max_ttl=s.l1_max_ttl,
        redis_url=s.redis_url, l2_timeout=s.l2_timeout,
        l2_breaker_failures=s.l2_breaker_failures, l2_breaker_reset=s.l2_breaker_reset,
        key_prefix=s.cache_key_prefix, codec=s.cache_codec, codec_level=s.cache_codec_level,
        secret=s.cache_secret.get_secret_value(), max_entry_bytes=s.cache_max_entry_bytes)


def chain_view_config(s: Settings) -> ChainViewConfig:
    return ChainViewConfig(finality_depth=s.finality_depth, head_ttl=s.ttl_head,
                           refresh_ahead=s.head_refresh_ahead)


def pool_options(s: Settings, *, pgbouncer: str | None = None) -> PoolOptions:
    return PoolOptions(min_size=s.pool_min, max_size=s.pool_max,
                       acquire_timeout=s.db_acquire_timeout, idle_timeout=s.db_idle_timeout,
                       max_queries=s.db_max_queries, statement_timeout=s.db_statement_timeout,
                       idle_in_transaction_timeout=s.db_idle_in_transaction_timeout,
                       query_timeout=s.db_query_timeout, connect_timeout=s.db_connect_timeout,
                       pgbouncer=s.db_pgbouncer if pgbouncer is None else pgbouncer)


def store_config(s: Settings) -> StoreConfig:
    return StoreConfig(
        database_url=s.database_url, pool=pool_options(s), read_urls=tuple(s.read_urls),
        replica_pool=pool_options(s, pgbouncer="off"), replica_max_lag=s.db_replica_max_lag,
        replica_check_interval=s.db_replica_check_interval,
        monitor=MonitorThresholds(slow_statement_ms=s.db_slow_statement_ms,
                                  min_hit_ratio=s.db_monitor_min_hit_ratio,
                                  max_connection_use=s.db_monitor_max_connection_use,
                                  max_replication_lag=s.db_replica_max_lag),
        monitor_interval=s.db_monitor_interval, batch_rows=s.write_batch_rows,
        batch_interval=s.write_batch_interval, queue_max=s.write_queue_max,
        data_dir=s.data_dir, partitions_ahead=s.db_partitions_ahead,
        spool_max_bytes=s.write_spool_max_bytes, durability=s.durability,
        commit_interval=s.journal_commit_interval)


def pgbouncer_config(s: Settings) -> PgBouncerConfig:
    return PgBouncerConfig(
        listen_addr=s.pgbouncer_listen_addr, listen_port=s.pgbouncer_listen_port,
        pool_mode=s.pgbouncer_pool_mode, max_client_conn=s.pgbouncer_max_client_conn,
        default_pool_size=s.pgbouncer_default_pool_size,
        min_pool_size=s.pgbouncer_min_pool_size,
        reserve_pool_size=s.pgbouncer_reserve_pool_size,
        max_user_connections=s.pgbouncer_max_user_connections,
        max_db_connections=s.pgbouncer_max_db_connections,
        server_idle_timeout=s.pgbouncer_server_idle_timeout,
        server_lifetime=s.pgbouncer_server_lifetime, query_timeout=s.db_query_timeout,
        query_wait_timeout=s.pgbouncer_query_wait_timeout)


# --- the node ---------------------------------------------------------------------------
class Node:
    """All components of one worker, started and stopped in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = NodeMetrics()
        self.upstreams = UpstreamPool(upstream_config(settings), self.metrics)
        self.cache = TieredCache(cache_config(settings), self.metrics)
        self.store = Store(store_config(settings), self.metrics) if settings.db_enabled else None
        self.chain = ChainView(self.upstreams, chain_view_config(settings), self.cache)
        self.service = ValidationService(self.upstreams, self.chain,
                                         network_id=settings.bizra_network_id, cache=self.cache,
                                         recorder=self.store.recorder if self.store else None)
        ready_checks: dict[str, ReadyCheck] = {"upstream": self._upstream_ready,
                                               "redis": self.cache.ready}
        if self.store is not None:
            ready_checks["database"] = self.store.ready
        self.exporter = Exporter(self.metrics, directory=settings.prometheus_multiproc_dir,
                                 flush_interval=settings.metrics_flush_interval,
                                 enabled=settings.metrics_enabled)
        self.memory_guard = MemoryGuard(
            self.metrics, limit=settings.memory_limit, workers=settings.workers,
            interval=settings.memory_check_interval, high_ratio=settings.memory_high_ratio,
            critical_ratio=settings.memory_critical_ratio)
        self.memory_guard.add_target(self.cache)
        self.rpc = RpcService(self.upstreams, self.chain, cache=self.cache)
        routes = [
            *Routes(self.service, ready_checks=ready_checks,
                    bench_endpoints=settings.bench_endpoints).routes,
            *MetricsEndpoints(self.exporter).routes,
            *HistoryRoutes(self.store.history if self.store else None).routes,
            *RpcRoute(self.rpc).routes,
            *openapi_routes(),
        ]
        self.dispatcher = Dispatcher(routes, settings.max_body_bytes,
                                     self.metrics if settings.metrics_enabled else None,
                                     deadline=settings.request_deadline,
                                     body_timeout=settings.http_body_timeout or None)
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
        await self.chain.close()
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
