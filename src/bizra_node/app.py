"""Builds the node: each component's config from the settings, then the components.

This is the one place that reads ``Settings``: every package below takes its own
config object (``UpstreamConfig``, ``CacheConfig``, ``StoreConfig``,
``ChainViewConfig``...), built here once, and checks it. No module-level singletons:
each worker process (and each test) builds its own ``Node``. ``create_rsgi_app`` /
``create_asgi_app`` are the factories granian calls in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from .api import (
    DEFAULT_COSTS,
    ASGIApp,
    CorsPolicy,
    Dispatcher,
    Guard,
    GuardConfig,
    HistoryRoutes,
    Keepalive,
    MetricsEndpoints,
    ReadyCheck,
    Request,
    Response,
    Route,
    Routes,
    RpcRoute,
    RSGIApp,
    SocketGuard,
    WebSocketEndpoint,
    openapi_routes,
)
from .cache import (
    CacheConfig,
    ChannelListener,
    LocalRecords,
    RedisConfig,
    RedisRecords,
    SharedRecords,
    TieredCache,
    TtlPolicy,
    connect_redis,
    open_pubsub,
)
from .chain import (
    FollowConfig,
    HeadFollower,
    SubscriptionFeed,
    UpstreamConfig,
    UpstreamPool,
    WsTarget,
    ws_url,
)
from .consensus import (
    BeaconApiError,
    BeaconSource,
    BeaconSourceConfig,
    ConsensusError,
    ExecutionHead,
    load_network,
)
from .consensus import Check as ConsensusCheck
from .jsonrpc import RpcLimits
from .lifeline import hold_lifeline
from .observability import Exporter, MemoryGuard, NodeMetrics, configure_logging
from .resilience import BreakerConfig, Periodic
from .security import (
    CHANGED,
    KeyHasher,
    KeyRing,
    LimiterConfig,
    Policy,
    RateLimiter,
    key_channel,
)
from .settings import Settings, load_settings, shown_url
from .store import MonitorThresholds, PoolOptions, Store, StoreConfig
from .tuning import HARNESS, TUNING, Harness, Tuning
from .validation import (
    INCIDENT_REASONS,
    AnchorConfig,
    ChainView,
    ChainViewConfig,
    Check,
    FilterService,
    HeadsFileError,
    ProvenLogs,
    Prover,
    ReorgHandler,
    RpcProofs,
    RpcService,
    SharedHeads,
    SubscriptionHub,
    ValidationService,
    parse_checkpoint,
)

__all__ = [
    "AdminNode",
    "ConsensusAnchor",
    "Node",
    "beacon_source_config",
    "cache_config",
    "chain_view_config",
    "create_admin_rsgi_app",
    "create_asgi_app",
    "create_rsgi_app",
    "follow_config",
    "guard_config",
    "limiter_config",
    "metrics_directory",
    "open_heads",
    "pool_options",
    "redis_config",
    "rpc_limits",
    "store_config",
    "upstream_config",
]

log = logging.getLogger("bizra_node")

_CHECKS = tuple(ConsensusCheck)


# --- settings (and the internal constants) -> each component's config -----------------
def upstream_config(s: Settings, t: Tuning = TUNING, h: Harness = HARNESS) -> UpstreamConfig:
    return UpstreamConfig(
        urls=tuple(s.upstream_urls), timeout=s.rpc_timeout,
        max_response=s.upstream_max_response_bytes,
        connect_timeout=s.rpc_connect_timeout, pool_limit=t.rpc_pool_limit,
        keepalive=t.rpc_keepalive, batch=t.rpc_batch, sequential=h.rpc_sequential,
        force_close=h.rpc_force_close, attempts=s.retry_attempts,
        backoff_initial=s.retry_initial, backoff_multiplier=t.retry_multiplier,
        backoff_max=max(t.retry_max, s.retry_initial), retry_budget_ratio=s.retry_budget_ratio,
        retry_budget_min=t.retry_budget_min, retry_budget_window=t.retry_budget_window,
        breaker=BreakerConfig(failure_threshold=s.cb_failure_threshold,
                              failure_rate=t.cb_failure_rate,
                              volume_threshold=t.cb_volume_threshold, window=t.cb_window,
                              window_slots=t.cb_window_size, reset_timeout=s.cb_reset_timeout,
                              half_open_probes=t.cb_half_open_probes),
        hedge=s.hedge_enabled, hedge_delay=t.hedge_delay, hedge_min_delay=t.hedge_min_delay,
        hedge_budget_ratio=t.hedge_budget_ratio, head_poll_interval=s.head_poll_interval,
        head_lag_blocks=s.head_lag_blocks, head_quorum=s.head_quorum or s.anchor_quorum,
        chain_id=s.bizra_network_id)


def cache_config(s: Settings, t: Tuning = TUNING) -> CacheConfig:
    return CacheConfig(
        network_id=s.bizra_network_id,
        policy=TtlPolicy(final=s.ttl_final, recent=s.ttl_recent, pending=s.ttl_pending,
                         address=s.ttl_address, head=s.ttl_head, not_found=s.ttl_not_found),
        l1_entries=s.l1_cache_size, l1_max_bytes=s.l1_max_bytes, l1_max_ttl=s.l1_max_ttl,
        redis=redis_config(s), l2_timeout=s.l2_timeout,
        l2_breaker_failures=t.l2_breaker_failures, l2_breaker_reset=t.l2_breaker_reset,
        key_prefix=s.cache_key_prefix, codec=t.cache_codec, codec_level=t.cache_codec_level,
        secret=s.cache_secret.get_secret_value(), max_entry_bytes=t.cache_max_entry_bytes)


def redis_config(s: Settings) -> RedisConfig | None:
    """Where Redis is (REDIS_URL, REDIS_MODE, REDIS_SENTINEL_*); None without REDIS_URL."""
    if not s.redis_url:
        return None
    return RedisConfig(s.redis_url, mode=s.redis_mode, sentinel_master=s.redis_sentinel_master,
                       sentinel_password=s.redis_sentinel_password.get_secret_value())


def chain_view_config(s: Settings, t: Tuning = TUNING) -> ChainViewConfig:
    anchor = AnchorConfig(upstreams=max(len(s.upstream_urls), 1), quorum=s.anchor_quorum,
                          checkpoint=parse_checkpoint(s.anchor_checkpoint),
                          refresh=t.anchor_refresh, finality_depth=s.finality_depth,
                          sync_committee=s.beacon_anchor,
                          walk_limit=s.trust_walk_limit)
    return ChainViewConfig(finality_depth=s.finality_depth, head_ttl=s.ttl_head,
                           refresh_ahead=t.head_refresh_ahead, anchor=anchor,
                           walk_limit=s.trust_walk_limit,
                           canonical_blocks=2 * s.trust_walk_limit + 64)


def beacon_source_config(s: Settings, t: Tuning = TUNING) -> BeaconSourceConfig | None:
    """The light client the anchor takes (ANCHOR_SOURCE=beacon), None otherwise."""
    if not s.beacon_anchor:
        return None
    return BeaconSourceConfig(urls=tuple(s.beacon_urls),
                              checkpoint=bytes.fromhex(s.beacon_checkpoint[2:]),
                              network=load_network(s.beacon_network), timeout=t.beacon_timeout)


def ws_targets(s: Settings) -> tuple[WsTarget, ...]:
    """The upstream WebSockets to subscribe on (HEAD_FOLLOW_WS)."""
    mode = s.head_follow_ws.strip().lower()
    if mode == "off":
        return ()
    if mode in ("auto", ""):
        return tuple(WsTarget(ws_url(url), http_url=url) for url in s.upstream_urls)
    return tuple(WsTarget(url) for url in s.head_follow_urls)


def follow_config(s: Settings) -> FollowConfig:
    return FollowConfig(ws=ws_targets(s), interval=s.head_follow_interval,
                        connect_timeout=s.rpc_connect_timeout, timeout=s.rpc_timeout,
                        max_message=s.upstream_max_response_bytes)


def rpc_limits(s: Settings, t: Tuning = TUNING) -> RpcLimits:
    return RpcLimits(max_batch=s.rpc_max_batch, max_body=s.rpc_max_body_bytes,
                     max_response=s.rpc_max_response_bytes, max_logs_range=s.rpc_max_logs_range,
                     ws_buffer=t.ws_client_buffer, ws_subscriptions=s.ws_max_subscriptions)


def pool_options(s: Settings, t: Tuning = TUNING, *, pgbouncer: str | None = None) -> PoolOptions:
    return PoolOptions(min_size=s.pool_min, max_size=s.pool_max,
                       acquire_timeout=s.db_acquire_timeout, idle_timeout=t.db_idle_timeout,
                       max_queries=t.db_max_queries, statement_timeout=s.db_statement_timeout,
                       idle_in_transaction_timeout=t.db_idle_in_transaction_timeout,
                       query_timeout=s.db_query_timeout, connect_timeout=s.db_connect_timeout,
                       pgbouncer=s.db_pgbouncer if pgbouncer is None else pgbouncer)


def store_config(s: Settings, t: Tuning = TUNING) -> StoreConfig:
    return StoreConfig(
        database_url=s.database_url, pool=pool_options(s, t), read_urls=tuple(s.read_urls),
        replica_pool=pool_options(s, t, pgbouncer="off"), replica_max_lag=s.db_replica_max_lag,
        replica_check_interval=s.db_replica_check_interval,
        monitor=MonitorThresholds(slow_statement_ms=t.db_slow_statement_ms,
                                  min_hit_ratio=t.db_monitor_min_hit_ratio,
                                  max_connection_use=t.db_monitor_max_connection_use,
                                  max_replication_lag=s.db_replica_max_lag),
        monitor_interval=t.db_monitor_interval, batch_rows=s.write_batch_rows,
        batch_interval=s.write_batch_interval, queue_max=s.write_queue_max,
        data_dir=s.data_dir, partitions_ahead=t.db_partitions_ahead,
        spool_max_bytes=s.write_spool_max_bytes, durability=s.durability,
        commit_interval=t.journal_commit_interval)


def guard_config(s: Settings) -> GuardConfig:
    return GuardConfig(
        keys_mode=s.api_keys_mode,
        anonymous=Policy("anonymous", s.rate_limit_rps, s.rate_limit_burst)
        if s.rate_limit_rps > 0 else None,
        key_default=Policy("key", s.rate_limit_key_rps, s.rate_limit_key_burst)
        if s.rate_limit_key_rps > 0 else None,
        anonymous_scopes=s.anonymous_scopes, trusted_proxies=s.proxy_networks)


def limiter_config(s: Settings, t: Tuning = TUNING) -> LimiterConfig:
    return LimiterConfig(key_prefix=s.cache_key_prefix, timeout=t.rate_limit_redis_timeout,
                         on_redis_down=s.rate_limit_on_redis_down, workers=s.workers)


class Security:
    """The guard and what it uses: the key ring (with its pub/sub events) and the rate
    limiter (with keys on, or a default limit); None of them when API keys are off and
    there are no limits."""

    def __init__(self, s: Settings, t: Tuning, metrics: NodeMetrics,
                 store: Store | None) -> None:
        config = guard_config(s)
        self.keys_required = s.api_keys_mode == "required"
        self.ring: KeyRing | None = None
        self.events: ChannelListener | None = None
        self.limiter: RateLimiter | None = None
        self._clients: list[Any] = []
        redis = redis_config(s)
        if s.api_keys_mode != "off":
            assert store is not None  # settings refuse keys without the database
            self.ring = KeyRing(store.keys, KeyHasher(s.api_key_secret.get_secret_value()),
                                metrics, capacity=s.api_keys_cache_size,
                                refresh=s.api_keys_refresh,
                                touch_interval=t.api_keys_touch_interval)
            if redis is not None:  # a listener waits for messages: no socket timeout
                listener = connect_redis(redis, socket_timeout=None, connect_timeout=2.0,
                                         max_connections=2)
                self._clients.append(listener)
                on_event = self.ring.on_event
                self.events = ChannelListener(lambda: open_pubsub(listener),
                                              key_channel(s.cache_key_prefix), on_event,
                                              what="API key events",
                                              on_back=lambda: on_event(CHANGED))
        # a key's own rate (keys create --rate) needs the limiter even when no default
        # limit is set
        if config.anonymous is not None or config.key_default is not None \
                or self.ring is not None:
            client = None
            if redis is not None:
                timeout = t.rate_limit_redis_timeout
                client = connect_redis(redis, socket_timeout=timeout,
                                       connect_timeout=max(timeout, 0.25), max_connections=64)
                self._clients.append(client)
            self.limiter = RateLimiter(limiter_config(s, t), metrics, client)
        self.guard = (Guard(config, metrics, ring=self.ring, limiter=self.limiter)
                      if self.ring is not None or self.limiter is not None else None)

    async def start(self) -> None:
        if self.ring is not None:
            await self.ring.start()
        if self.events is not None:
            self.events.start()
        if self.limiter is not None:
            self.limiter.start()

    async def stop(self) -> None:
        if self.events is not None:
            await self.events.stop()
        if self.limiter is not None:
            await self.limiter.stop()
        if self.ring is not None:
            await self.ring.stop()  # writes the last batch of last-used times
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def ready(self) -> dict[str, Any]:
        """Keys loaded (when on), and which rate-limit mode holds. Not ready when keys
        are required and none could be loaded yet (every keyed request would be a 503),
        or when the limits fail closed with Redis down."""
        out: dict[str, Any] = {"ok": True, "apiKeys": "off"}
        if self.ring is not None:
            ring = self.ring.status()
            out["apiKeys"] = ring
            out["ok"] = bool(ring["ok"]) or not self.keys_required
        if self.limiter is not None:
            limits = self.limiter.status()
            out["rateLimit"] = limits
            out["ok"] = out["ok"] and bool(limits["ok"])
        return out


class Reorgs:
    """What a reorg changes (validation/reorgs.py), and the Redis channel over which every
    worker of every node sharing the cache hears of one; without Redis, this worker's L1
    and records only (``/ready`` says ``feed: "off"``)."""

    def __init__(self, s: Settings, chain: ChainView, cache: TieredCache,
                 metrics: NodeMetrics, store: Store | None) -> None:
        self.channel = cache.prefix + "reorgs"
        self.feed: ChannelListener | None = None
        self._clients: list[Any] = []
        redis = redis_config(s)
        publish = None
        if redis is not None:
            sender = connect_redis(redis, socket_timeout=2.0, connect_timeout=2.0,
                                   max_connections=4)
            listener = connect_redis(redis, socket_timeout=None, connect_timeout=2.0,
                                     max_connections=2)  # waits for messages: no timeout
            self._clients += [sender, listener]
            channel = self.channel

            async def publish(message: bytes) -> Any:
                return await sender.publish(channel, message)
        self.handler = ReorgHandler(chain, cache, metrics, network_id=s.bizra_network_id,
                                    mark_reorged=store.mark_reorged if store else None,
                                    publish=publish, channel=self.channel)
        chain.headers.add_reorg_listener(self.handler.on_reorg)
        if redis is not None:
            self.feed = ChannelListener(lambda: open_pubsub(listener), self.channel,
                                        self.handler.on_notice, what="reorg notices",
                                        on_lost=self.handler.feed_lost,
                                        on_back=self.handler.feed_back)

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()
        await self.handler.close()
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def ready(self) -> dict[str, Any]:
        """Always ready (answers stay correct, only cached shorter while the feed is
        down); says whether reorg news from other workers and nodes arrives."""
        if self.feed is None:
            return {"ok": True, "feed": "off"}
        if self.feed.live:
            return {"ok": True, "feed": "live"}
        return {"ok": True, "feed": "down", "cacheTtl": "short (TTL_HEAD) until it is back"}


class ConsensusAnchor:
    """The beacon light client the anchor takes (ANCHOR_SOURCE=beacon; docs/trust.md,
    "The consensus anchor"): its refusals and failures counted, its heads in gauges, its
    state in /ready.

    Each worker runs its own: a worker stays one self-contained process (nothing to
    elect, nothing lost when one dies and is replaced), and following costs little
    (two small verified updates per slot, ~5 ms of CPU and ~9 KB each 12 s on mainnet;
    a first sync ~42 ms per period since the checkpoint). What the workers must agree
    on, finality, they already share through the heads file, and each worker's anchor
    is checked against the upstreams' blocks by itself."""

    def __init__(self, config: BeaconSourceConfig, metrics: NodeMetrics, t: Tuning) -> None:
        self.metrics = metrics
        self._start_wait = t.beacon_start_wait
        self._stale_after = t.beacon_stale_rounds * config.period
        self._network = config.network
        self._listeners: list[Any] = []
        self.source = BeaconSource(config, on_refused=self._refused,
                                   on_unavailable=self._unavailable, on_changed=self._changed)
        metrics.beacon_refusals.preset(*(((check.value,)) for check in _CHECKS))
        metrics.beacon_unavailable.preset(*((shown_url(u),) for u in config.urls))

    def add_listener(self, listener: Any) -> None:
        """Called with no argument each time the verified heads move."""
        self._listeners.append(listener)

    def _refused(self, url: str, exc: ConsensusError) -> None:
        self.metrics.beacon_refusals.inc((exc.check.value,))

    def _unavailable(self, url: str, exc: BeaconApiError) -> None:
        self.metrics.beacon_unavailable.inc((shown_url(url),))

    def _changed(self, finalized: ExecutionHead | None, optimistic: ExecutionHead | None) -> None:
        for name, head in (("finalized", finalized), ("optimistic", optimistic)):
            if head is not None:
                self.metrics.beacon_slot.set(head.slot, (name,))
                self.metrics.beacon_head_time.set(
                    self._network.genesis_time + head.slot * self._network.seconds_per_slot,
                    (name,))
        for listener in self._listeners:
            listener()

    async def start(self) -> None:
        """Start following, and wait (at most ``beacon_start_wait``) for the first round,
        so the worker's first answers can be anchored."""
        await self.source.start()
        if not await self.source.wait_synced(self._start_wait):
            log.warning("the beacon light client has not synced yet (%d refusals, %d failed "
                        "requests): answers are not anchored until it has",
                        sum(self.source.refusals.values()),
                        sum(self.source.unavailable.values()))

    async def stop(self) -> None:
        await self.source.stop()

    async def ready(self) -> dict[str, Any]:
        """Ready once a round has completed, and while one has within
        ``beacon_stale_rounds`` periods (``syncing``, then ``stale``: answers are then
        anchored on an old finalized block, or not at all)."""
        status = self.source.status()
        last = self.source.last_refresh
        state = ("syncing" if not self.source.synced else
                 "stale" if last is None or time.time() - last > self._stale_after else "synced")
        fin, opt = self.source.finalized, self.source.optimistic
        return {"ok": state == "synced", "state": state, "network": status["network"],
                "currentSlot": status["currentSlot"],
                "finalized": fin.to_json() if fin else None,
                "optimistic": opt.to_json() if opt else None,
                "refusals": status["refusals"],
                "unavailable": {shown_url(u): n for u, n in self.source.unavailable.items()},
                "lastRound": last}


def open_heads(s: Settings) -> SharedHeads | None:
    """The heads file `serve` made (HEADS_FILE), through which this worker shares what
    it has shown with the node's others; None without one. One that cannot be opened
    any more (removed while the node runs: a tmp cleaner, logind's RemoveIPC) or is not
    the node user's private file is said, and the worker answers on its own rather than
    not at all (a respawned worker that failed would take the node down)."""
    if not s.heads_file:
        return None
    try:
        return SharedHeads.open(s.heads_file, s.bizra_network_id)
    except HeadsFileError as exc:
        log.error("%s: this worker answers on its own (another connection may be shown an "
                  "older head or finality than this one)", exc)
        return None


# --- the node ---------------------------------------------------------------------------
class Node:
    """All components of one worker, started and stopped in order. ``tuning`` and
    ``harness``: the internal constants and the benchmark switches (tuning.py), for a
    benchmark or a test to change; the node's own factories keep the defaults."""

    def __init__(self, settings: Settings, *, tuning: Tuning = TUNING,
                 harness: Harness = HARNESS, metrics_dir: str = "") -> None:
        self.settings = settings
        self.tuning = tuning
        t, h = tuning, harness
        self.metrics = NodeMetrics()
        self.upstreams = UpstreamPool(upstream_config(settings, t, h), self.metrics)
        self.cache = TieredCache(cache_config(settings, t), self.metrics)
        self.store = (Store(store_config(settings, t), self.metrics) if settings.db_enabled
                      else None)
        self.heads = open_heads(settings)
        beacon = beacon_source_config(settings, t)
        self.consensus = (ConsensusAnchor(beacon, self.metrics, t) if beacon is not None
                          else None)
        self.chain = ChainView(self.upstreams, chain_view_config(settings, t), self.cache,
                               self.heads,
                               self.consensus.source if self.consensus is not None else None,
                               votes=self.upstreams)
        if self.consensus is not None:  # a newly signed finalized block: the anchor moves
            self.consensus.add_listener(self.chain.anchors.expire)
        self.prover = Prover(self.upstreams, self.chain, memo_blocks=t.trust_block_memo,
                             pooled_blob_leaves=h.pooled_blob_leaves)
        if t.trust_prefetch:  # a new head's block proven before its transactions are asked
            self.chain.headers.add_head_listener(self.prover.prefetch)
        # the node's promise: every check per upstream at 0 from the start, so the first
        # integrity failure is an increase an alert sees (not a series appearing at 1)
        self.metrics.upstream_integrity_failures.preset(
            *((name, check.value) for name in self.upstreams.names for check in Check))
        self.service = ValidationService(self.upstreams, self.chain,
                                         network_id=settings.bizra_network_id, cache=self.cache,
                                         recorder=self.store.recorder if self.store else None,
                                         prover=self.prover,
                                         require_proven=settings.trust_require == "proven")
        ready_checks: dict[str, ReadyCheck] = {"upstream": self._upstream_ready,
                                               "redis": self.cache.ready}
        if self.store is not None:
            ready_checks["database"] = self.store.ready
        if self.consensus is not None:
            ready_checks["beacon"] = self.consensus.ready
        self.metrics.anchor_incidents.preset(*((reason,) for reason in INCIDENT_REASONS))
        self.metrics.anchor_incident.preset(())
        self.chain.anchors.add_incident_listener(self._anchor_incident)
        ready_checks["anchor"] = self._anchor_ready
        self.reorgs = Reorgs(settings, self.chain, self.cache, self.metrics, self.store)
        ready_checks["reorgs"] = self.reorgs.ready
        self.security = Security(settings, t, self.metrics, self.store)
        if self.security.guard is not None:
            ready_checks["security"] = self.security.ready
        self.exporter = Exporter(self.metrics, directory=metrics_dir,
                                 flush_interval=settings.metrics_flush_interval,
                                 enabled=h.metrics_enabled)
        self.memory_guard = MemoryGuard(
            self.metrics, limit=settings.memory_limit, workers=settings.workers,
            interval=t.memory_check_interval, high_ratio=t.memory_high_ratio,
            critical_ratio=t.memory_critical_ratio)
        self.memory_guard.add_target(self.cache)
        # /rpc: filters in shared state, one head follower and one subscription hub per worker
        self.limits = rpc_limits(settings, t)
        redis = redis_config(settings)
        self.records: SharedRecords = (
            RedisRecords(redis, f"{settings.cache_key_prefix}:state:{settings.bizra_network_id}:")
            if redis is not None else LocalRecords())
        # logs made by the node from proven headers and receipts (with TRUST_RPC)
        self.logs = (ProvenLogs(self.upstreams, self.chain, self.prover,
                                max_range=self.limits.max_logs_range)
                     if settings.trust_rpc else None)
        self.filters = FilterService(self.upstreams, self.chain, self.records,
                                     ttl=t.filter_ttl, limits=self.limits, logs=self.logs)
        self.follower = HeadFollower(self.upstreams, follow_config(settings))
        self.hub = SubscriptionHub(
            self.upstreams, limits=self.limits, logs=self.logs,
            pending=SubscriptionFeed(ws_targets(settings), ["newPendingTransactions"],
                                     connect_timeout=settings.rpc_connect_timeout,
                                     max_message=settings.upstream_max_response_bytes,
                                     what="pending transactions"))
        for listener in (self.chain.observe_header, self.filters.on_head, self.hub.on_head):
            self.follower.add_listener(listener)
        self.rpc = RpcService(self.upstreams, self.chain, cache=self.cache, filters=self.filters,
                              limits=self.limits, network_id=settings.bizra_network_id,
                              logs=self.logs,
                              proofs=RpcProofs(self.prover, settings.bizra_network_id)
                              if settings.trust_rpc else None,
                              require_proven=settings.trust_require == "proven")
        cors = CorsPolicy(settings.cors_origins)
        rpc_route = RpcRoute(self.rpc, limits=self.limits, cors=cors,
                             costs={**DEFAULT_COSTS, **settings.rpc_costs})
        self.websocket: WebSocketEndpoint | None = WebSocketEndpoint(
            rpc_route.answerer, self.hub, deadline=settings.request_deadline,
            guard=SocketGuard(self.security.guard, cors, rpc_route.cost,
                              ring=self.security.ring))
        operations = Routes(self.service, ready_checks=ready_checks,
                            bench_endpoints=h.bench_endpoints, metrics=self.metrics)
        self._readiness = Periodic("readiness", operations.readiness, t.readiness_interval,
                                   logger=log)  # node_ready is 0 until the first check
        routes = [
            *operations.routes,
            *([] if settings.metrics_address else MetricsEndpoints(self.exporter).routes),
            *HistoryRoutes(self.store.history if self.store else None).routes,
            *rpc_route.routes,
            *openapi_routes(),
        ]
        self.dispatcher = Dispatcher(routes, settings.max_body_bytes,
                                     self.metrics if h.metrics_enabled else None,
                                     deadline=settings.request_deadline,
                                     guard=self.security.guard,
                                     body_timeout=settings.http_body_timeout or None,
                                     cors=cors)
        self.keepalive = (Keepalive(settings.tcp_keepalive) if settings.tcp_keepalive > 0
                          else None)
        self._started = False

    def _anchor_incident(self, reason: str | None) -> None:
        """An anchor incident (anchor.py): counted by reason; the gauge is 1 until a
        refresh ends without one."""
        if reason is not None:
            self.metrics.anchor_incidents.inc((reason,))
        self.metrics.anchor_incident.set(0.0 if reason is None else 1.0)

    async def _anchor_ready(self) -> dict[str, Any]:
        """The anchor and its source; ``degraded`` (still ok: the node keeps serving what
        it proves against the anchor it holds) while the last refresh was an incident."""
        keeper = self.chain.anchors
        anchor = keeper.current
        out: dict[str, Any] = {
            "ok": True, "status": "degraded" if keeper.incident is not None else "ok",
            "source": keeper.source.value,
            "anchor": {"number": anchor.number, "hash": "0x" + anchor.hash.hex()}
            if anchor is not None else None}
        if keeper.incident is not None:
            out["incident"] = dict(keeper.incident)
        return out

    async def _upstream_ready(self) -> dict[str, Any]:
        """Ready when at least one upstream answers; each is listed with its breaker
        state and counters."""
        upstreams = await self.upstreams.ping(timeout=min(2.0, self.settings.rpc_timeout))
        return {"ok": any(u["ok"] for u in upstreams.values()), "upstreams": upstreams}

    async def start(self) -> None:
        await self.upstreams.start()
        await self.upstreams.check_chains()  # before anything is asked of another chain
        await self.cache.start()
        if self.consensus is not None:
            await self.consensus.start()  # the light client's first round, bounded
        await self.chain.start()  # the anchor, and the canonical hashes up to the head
        self.reorgs.start()
        self.follower.start()
        if self.store is not None:
            await self.store.start()  # migrate, pools, writer, monitor
        await self.security.start()  # keys are read from the store
        self.exporter.start()
        self.memory_guard.start()
        self._readiness.start()
        self._started = True
        log.info("node started", extra={"upstreams": [u.name for u in self.upstreams.upstreams],
                                        "network_id": self.settings.bizra_network_id})

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self._readiness.stop()
        await self.memory_guard.stop()
        await self.follower.stop()
        await self.reorgs.stop()
        await self.hub.close()
        await self.records.close()
        await self.prover.close()
        await self.security.stop()
        await self.chain.close()
        if self.consensus is not None:
            await self.consensus.stop()
        if self.heads is not None:
            self.heads.close()
        await self.cache.close()
        await self.upstreams.close()
        if self.store is not None:  # no validations can be produced any more: flush them
            await self.store.stop()  # flush the write-behind queue, then close the pools
        await self.exporter.stop()
        await asyncio.sleep(0)  # let aiohttp close its transports
        log.info("node stopped")


class AdminNode:
    """The admin listener (METRICS_ADDRESS): /metrics, /api/metrics and /health over the
    metric files every worker of the node publishes."""

    def __init__(self, settings: Settings, metrics_dir: str = "") -> None:
        self.exporter = Exporter(NodeMetrics(), directory=metrics_dir,
                                 flush_interval=settings.metrics_flush_interval)
        # no scope: whoever reaches the admin address may read the metrics
        routes = [Route(r.path, r.methods, r.handler)
                  for r in MetricsEndpoints(self.exporter).routes]
        routes.append(Route("/health", ("GET",), _health))
        self.dispatcher = Dispatcher(routes, 1024)
        self.websocket: WebSocketEndpoint | None = None
        self.keepalive: Keepalive | None = None

    async def start(self) -> None:
        self.exporter.start()

    async def stop(self) -> None:
        await self.exporter.stop()


async def _health(req: Request) -> Response:
    return Response(200, b'{"success":true,"data":{"status":"ok"}}')


def metrics_directory() -> str:
    """Where the workers of ``serve`` publish their metric files: prometheus_client's
    own variable, PROMETHEUS_MULTIPROC_DIR, which ``serve`` sets for its workers (a
    fresh directory per run); empty: one process, its metrics read directly."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def create_admin_rsgi_app() -> RSGIApp:
    hold_lifeline()  # a granian worker: it stops when its main process is gone
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return RSGIApp(AdminNode(settings, metrics_directory()))


def create_rsgi_app() -> RSGIApp:
    hold_lifeline()
    settings = load_settings(serving=True)
    configure_logging(settings.log_level, settings.log_format)
    return RSGIApp(Node(settings, metrics_dir=metrics_directory()))


def create_asgi_app() -> ASGIApp:
    hold_lifeline()
    settings = load_settings(serving=True)
    configure_logging(settings.log_level, settings.log_format)
    return ASGIApp(Node(settings, metrics_dir=metrics_directory()))
