"""Settings (and the internal constants) -> each component's config object.

The one place a ``Settings`` becomes the typed configs the packages below take; the
assembly (node.py, network.py) calls these once per worker (per network where the
config is a network's)."""

from __future__ import annotations

from ..api import GuardConfig
from ..cache import CacheConfig, RedisConfig, TtlPolicy
from ..chain import FollowConfig, UpstreamConfig, WsTarget, ws_url
from ..consensus import BeaconSourceConfig, load_network
from ..jsonrpc import RpcLimits
from ..resilience import BreakerConfig
from ..security import LimiterConfig, Policy
from ..settings import Settings
from ..store import MonitorThresholds, PoolOptions, StoreConfig
from ..tuning import HARNESS, TUNING, Harness, Tuning
from ..validation import AnchorConfig, ChainViewConfig, parse_checkpoint


def upstream_config(s: Settings, t: Tuning = TUNING, h: Harness = HARNESS, *,
                    name_prefix: str = "") -> UpstreamConfig:
    return UpstreamConfig(
        urls=tuple(s.upstream_urls), name_prefix=name_prefix, timeout=s.rpc_timeout,
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
                           refresh_ahead=t.head_refresh_ahead,
                           stale_if_error=t.head_stale_if_error, anchor=anchor,
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


