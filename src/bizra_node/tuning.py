"""The node's internal constants, and the switches only a benchmark or a test turns.

Neither is a setting: an operator has no reason to change them, and 147 settings were
too many to read. Each constant says where its value comes from: a measurement (with
where it is written down), or, where nothing was measured, the reason for the value.
A benchmark or a test builds a node with other values (``Node(settings, tuning=...,
harness=...)``; the benchmark harness's own application factory does it for the nodes
it starts, from its own environment: bizra_bench/node.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["HARNESS", "TUNING", "Harness", "Tuning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tuning:
    """Internal constants, by the room that uses them."""

    # --- upstream pool: breaker, retries, hedging, connections ------------------------
    cb_failure_rate: float = 50.0
    """Failure percentage over the window that opens a breaker (with CB_FAILURE_THRESHOLD
    consecutive failures opening it sooner). Not measured: half of the calls failing
    means the upstream is not serving."""
    cb_volume_threshold: int = 10
    """Calls in the window before the failure rate applies, so two failures of three
    calls do not open it. Not measured."""
    cb_window: float = 60.0
    """Rolling window of the breaker's counts, s. Not measured."""
    cb_window_size: int = 100
    """Slots of the breaker's ring buffer: a 0.6 s resolution over the 60 s window,
    finer than any reset time, in a fixed amount of memory whatever the traffic."""
    cb_half_open_probes: int = 3
    """Calls let through a half-open breaker; their success closes it. Not measured."""
    retry_multiplier: float = 2.0
    """Backoff growth per attempt (RETRY_INITIAL, x2, capped at retry_max)."""
    retry_max: float = 2.0
    """Backoff cap, s: with 3 attempts and 0.1 s initial, the cap is never reached; it
    bounds RETRY_ATTEMPTS raised by an operator."""
    retry_budget_min: float = 10.0
    """Retries per second always allowed, whatever the traffic (so a quiet node still
    fails over). Not measured."""
    retry_budget_window: float = 10.0
    """Window the retry budget counts calls over, s. Not measured."""
    hedge_delay: float = 0.0
    """Hedge a read after this many s; 0 = the upstream's recent p95 (follows each
    upstream instead of a fixed guess). Not measured against a fixed delay."""
    hedge_min_delay: float = 0.01
    """Never hedge sooner than this, s: a local node's p95 is ~1 ms, and hedging at
    once would double every call."""
    hedge_budget_ratio: float = 0.05
    """Hedges allowed as a share of recent calls (plus one a second), apart from the
    retry budget so hedging never starves failover. Not measured."""
    rpc_pool_limit: int = 512
    """Keep-alive sockets to the upstreams per worker: more than the performance
    suite's 64 concurrent client connections can keep busy (docs/performance.md)."""
    rpc_keepalive: float = 15.0
    """Idle upstream socket lifetime, s: below a load balancer's usual 60 s idle timeout
    (AWS ALB's default), so the node closes an idle socket before the far end does."""
    rpc_batch: bool = True
    """Send a validation's related calls as one JSON-RPC batch (an upstream that refuses
    batches is sent them one by one): a miss costs 1.05x one upstream round trip
    (docs/performance.md)."""

    # --- cache ---------------------------------------------------------------------------
    l2_breaker_failures: int = 3
    """Consecutive Redis failures that make L2 skip Redis (then L1 only, answers go on)."""
    l2_breaker_reset: float = 5.0
    """Seconds before a skipped Redis is probed again."""
    cache_codec: Literal["zstd-dict", "zstd", "zlib", "raw"] = "zstd-dict"
    """L2 compression, used only when it saves > 10 %: zstd with the answer-skeleton
    dictionary stores ~0.5 of the raw size (`bench cache`)."""
    cache_codec_level: int = 1
    """zstd level: higher levels saved little on answers and cost CPU (`bench cache`)."""
    cache_max_entry_bytes: int = 1 << 20
    """Answers larger than this are served but not cached (L1 nor Redis): a bound on
    what one entry may cost (docs/operations.md)."""
    head_refresh_ahead: float = 0.5
    """Refresh the cached head in the background once less than this share of TTL_HEAD
    is left: p99 of the hit path at 1 000 req/s 48.8 ms -> 2.85 ms against 0
    (docs/performance.md, "The head refreshed ahead of expiry")."""

    head_stale_if_error: float = 30.0
    """How long past its TTL the last head may serve cached answers while no upstream
    answers for a newer one (a breaker open, timeouts), s: one CB_RESET_TIMEOUT. Without
    it, an overloaded upstream opened the breaker and every L1 hit became a 503 (the
    suite's Zipf mix at load 12: 6 147 errors of 6 208 in its steady wrk phase,
    docs/performance.md)."""

    # --- trust ---------------------------------------------------------------------------
    anchor_refresh: float = 4.0
    """Ask for the finalized block (the anchor) again after this many s: finality moves
    once an epoch (6.4 min on mainnet), so answers' finality lags it by at most 4 s."""
    beacon_start_wait: float = 15.0
    """ANCHOR_SOURCE=beacon: seconds a worker waits at start for the light client's first
    round (bootstrap and period updates: ~42 ms of CPU per period since the checkpoint,
    docs/trust.md); past it the worker serves unanchored answers until the round is done."""
    beacon_timeout: float = 10.0
    """Seconds per beacon API request."""
    beacon_stale_rounds: float = 5.0
    """/ready says the beacon anchor is stale when no round has completed for this many
    refresh periods (one slot each: a minute on mainnet)."""
    trust_block_memo: int = 4096
    """Proven blocks kept per worker at most, so one rebuild of a block's tries serves
    every transaction of it (docs/trust.md); trust_block_memo_bytes bounds them first on
    a chain with big blocks. At 256 the suite's Zipf mix (~900 blocks) refetched a block
    for 0.65-0.68 of its transaction misses, at 4 096 0.21-0.38 (docs/performance.md)."""
    trust_block_memo_bytes: int = 64 << 20
    """Estimated bytes of the proven blocks kept per worker (validation/prover.py,
    block_weight): about a hundred mainnet blocks with their receipts."""
    trust_prefetch: bool = True
    """Prove each new head's block as it comes, so a recent transaction's miss is one
    upstream round trip, not two (docs/trust.md)."""

    # --- the /rpc endpoint -----------------------------------------------------------------
    filter_ttl: float = 300.0
    """A JSON-RPC filter not polled for this long is removed, s (geth's 5 minutes)."""
    ws_client_buffer: int = 1024
    """Messages waiting for one WebSocket client; a client that lets more pile up is
    disconnected (1013). `bench ws-fanout` with it: 20 000 of 20 000 heads delivered to
    1 000 reading clients (docs/performance.md)."""

    # --- database ----------------------------------------------------------------------------
    db_idle_timeout: float = 10.0
    """An idle pooled connection above the pool's floor is closed after this many s."""
    db_max_queries: int = 50_000
    """Queries before a connection is replaced (bounds server-side memory growth)."""
    db_idle_in_transaction_timeout: float = 30.0
    """idle_in_transaction_session_timeout, s: the statement timeout's value, so a
    stuck transaction cannot hold locks longer than a statement may run."""
    db_partitions_ahead: int = 3
    """Monthly partitions of `validations` kept created ahead (a quarter: the node
    makes them at start and every day, so this only needs to outlast an outage)."""
    db_monitor_interval: float = 60.0
    """Database monitor period, s (pg_stat_statements and pg_stat_database reads)."""
    db_slow_statement_ms: float = 1000.0
    """Mean time above which a statement counts as slow (monitor)."""
    db_monitor_min_hit_ratio: float = 0.99
    """Buffer cache hit ratio below which the monitor warns."""
    db_monitor_max_connection_use: float = 0.8
    """Share of max_connections in use above which the monitor warns."""
    journal_commit_interval: float = 0.002
    """DURABILITY=local: least time between two fsyncs of the local log, s. With it,
    one fsync serves ~5 answers under load and a miss waits ~1 fsync (~1 ms) at low
    load (docs/performance.md, durability)."""

    # --- security ----------------------------------------------------------------------------
    api_keys_touch_interval: float = 30.0
    """Keys' last-used times are written in one batch this often, s (never per request)."""
    rate_limit_redis_timeout: float = 0.05
    """One rate-limit Redis call, s: a caller's first request on a worker waits this
    long at most (a lease then serves the following ones locally, docs/security.md)."""

    # --- observability -------------------------------------------------------------------------
    readiness_interval: float = 15.0
    """Seconds between two readiness checks of each worker (``node_ready``, so an alert
    sees a node not ready without a probe calling /ready): one upstream ping and one
    database and Redis round trip each time; the alert waits 2 minutes, 8 checks."""

    # --- memory guard --------------------------------------------------------------------------
    memory_check_interval: float = 5.0
    """Memory guard period, s."""
    memory_high_ratio: float = 0.85
    """Share of a worker's memory budget above which half of L1 is dropped."""
    memory_critical_ratio: float = 0.95
    """Share of the budget above which L1 is cleared and garbage collected."""

    def __post_init__(self) -> None:
        if self.cache_codec == "zlib" and not -1 <= self.cache_codec_level <= 9:
            raise ValueError("Tuning: cache_codec_level must be -1..9 for zlib")
        if self.memory_critical_ratio < self.memory_high_ratio:
            raise ValueError("Tuning: memory_critical_ratio must be >= memory_high_ratio")


@dataclass(frozen=True, slots=True, kw_only=True)
class Harness:
    """What only a benchmark or a test turns on; never an operator's choice."""

    bench_endpoints: bool = False
    """Expose /_bench/constant, a bare endpoint the benchmarks measure the server by."""
    rpc_sequential: bool = False
    """Send a validation's calls one after another, each in its own round trip (the
    system before this one: the performance suite's 'before' baseline)."""
    rpc_force_close: bool = False
    """A new upstream connection for every call, no keep-alive (same baseline)."""
    metrics_enabled: bool = True
    """Record API metrics; off only to measure what they cost (`bench observability`)."""
    pooled_blob_leaves: bool = False
    """Accept anvil <= 1.7.1's blob-transaction leaves (sidecar included) in
    transactionsRoot: the tests' devnets (foundry-rs/foundry#15132)."""


TUNING = Tuning()
HARNESS = Harness()
