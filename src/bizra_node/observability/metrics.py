"""Every metric the node exports, declared in one place with bounded labels.

``NodeMetrics`` is built once per worker by ``app/`` and passed to each
component; components count into it on their hot paths (cheap primitives from
``stats.py``). The exporter publishes it to Prometheus off the request path.
Gauges say how they combine over workers (``aggregate``, default ``sum``); every
attribute that is a metric vector is exported, so a new metric needs only a line here.
"""

from __future__ import annotations

from .stats import CounterVec, GaugeVec, HistogramVec, Labelled

__all__ = ["NETWORK_SCOPED", "NodeMetrics", "SupervisorMetrics"]

NETWORK_SCOPED = (
    "upstream_calls", "upstream_latency", "upstream_retries", "upstream_hedges", "breaker_state",
    "breaker_transitions", "upstream_head", "chain_reorgs", "chain_reorgs_below_finality",
    "reorg_propagation", "upstream_integrity_failures", "anchor_incidents", "anchor_incident",
    "beacon_refusals", "beacon_unavailable", "beacon_slot", "beacon_head_time", "cache_hits",
    "cache_misses", "cache_evictions", "cache_entries", "cache_bytes", "cache_l2_errors",
    "cache_oversize", "cache_compressed_bytes", "cache_reorg_invalidated", "dedup_requests")
"""What one network's components count (upstreams, chain, anchor, cache): with several
networks, these carry a ``network`` label (the chain id); the API, database, security
and process metrics are the node's."""


class NodeMetrics:
    """``networks``: the node serves several networks, and :data:`NETWORK_SCOPED`
    vectors have a last label, ``network`` (each network counts through
    :meth:`for_network`)."""

    def __init__(self, *, networks: bool = False) -> None:
        # API
        self.node_ready = GaugeVec(
            "node_ready", "1 when /ready answers ready, else 0 (each worker checks every 15 s "
            "and at each /ready; the lowest worker)", (), aggregate="min")
        self.api_requests = CounterVec(
            "api_requests_total", "HTTP requests by route and status", ("route", "status"))
        self.api_latency = HistogramVec(
            "api_response_time_seconds", "HTTP response time", ("route", "status"))
        # upstream calls
        self.upstream_calls = CounterVec(
            "upstream_calls_total", "Upstream JSON-RPC calls by upstream, method and outcome",
            ("upstream", "method", "outcome"))
        self.upstream_latency = HistogramVec(
            "upstream_call_duration_seconds", "Upstream round trip time", ("upstream", "method"))
        self.upstream_retries = CounterVec(
            "upstream_retries_total", "Retried upstream calls", ("upstream", "reason"))
        self.upstream_hedges = CounterVec(
            "upstream_hedges_total", "Hedged reads: sent, won, lost, failed", ("outcome",))
        self.breaker_state = GaugeVec(
            "circuit_breaker_state", "0 closed, 1 half-open, 2 open (worst over workers)",
            ("upstream",), aggregate="max")
        self.breaker_transitions = CounterVec(
            "circuit_breaker_transitions_total", "Breaker state changes", ("upstream", "to"))
        self.upstream_head = GaugeVec("upstream_head_block", "Head block per upstream",
                                      ("upstream",), aggregate="max")
        self.chain_reorgs = CounterVec(
            "chain_reorgs_total", "Reorgs this worker noticed, by depth (blocks replaced)",
            ("depth",))
        self.chain_reorgs_below_finality = CounterVec(
            "chain_reorgs_below_finality_total",
            "Reorgs that replaced a block at or below the finalized anchor (an incident)", ())
        self.reorg_propagation = HistogramVec(
            "reorg_propagation_seconds",
            "From a reorg noticed by one node (or worker) to its invalidation here", (),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.upstream_integrity_failures = CounterVec(
            "upstream_integrity_failures_total",
            "Upstream answers that failed a verification check, by upstream and check",
            ("upstream", "check"))
        self.anchor_incidents = CounterVec(
            "anchor_incidents_total", "Anchor refreshes that were an incident, by reason: "
            "no_quorum (upstreams disagree on a finalized block), unlinked (the finalized "
            "block named does not descend from the anchor), checkpoint (an upstream's block "
            "at the pinned checkpoint's number is another)", ("reason",))
        self.anchor_incident = GaugeVec(
            "anchor_incident", "1 while the last anchor refresh was an incident (the anchor "
            "is kept, answers are proven against it), else 0 (the highest over workers)", (),
            aggregate="max")
        # the consensus anchor (ANCHOR_SOURCE=beacon)
        self.beacon_refusals = CounterVec(
            "beacon_refusals_total", "Beacon API answers the light client refused, by the "
            "check they failed (a forged signature, a swapped committee, ...)", ("check",))
        self.beacon_unavailable = CounterVec(
            "beacon_unavailable_total", "Failed beacon API requests, by URL (scheme://host:port)",
            ("url",))
        self.beacon_slot = GaugeVec(
            "beacon_head_slot", "Slot of the latest verified beacon header, by head "
            "(finalized, optimistic; the highest over workers)", ("head",), aggregate="max")
        self.beacon_head_time = GaugeVec(
            "beacon_head_timestamp_seconds", "Unix time of that slot (its age: time() minus "
            "this), by head", ("head",), aggregate="max")
        # cache
        self.cache_hits = CounterVec("cache_hits_total", "Cache hits", ("tier", "kind"))
        self.cache_misses = CounterVec("cache_misses_total", "Cache misses", ("tier", "kind"))
        self.cache_evictions = CounterVec("cache_evictions_total", "L1 evictions", ("reason",))
        self.cache_entries = GaugeVec("cache_entries", "Entries held", ("tier",))
        self.cache_bytes = GaugeVec("cache_bytes", "Bytes held", ("tier",))
        self.cache_l2_errors = CounterVec(
            "cache_l2_errors_total", "Redis failures, and entries refused from Redis (op invalid: "
            "MAC does not hold; decode: unreadable)", ("op",))
        self.cache_oversize = CounterVec(
            "cache_oversize_total", "Answers served but not cached: over the 1 MiB entry cap",
            ("kind",))
        self.cache_compressed_bytes = CounterVec(
            "cache_l2_payload_bytes_total", "Bytes written to L2 before/after compression",
            ("stage",))
        self.cache_reorg_invalidated = CounterVec(
            "cache_reorg_invalidated_total",
            "Cache entries dropped because a reorg replaced a block they depend on", ("tier",))
        self.dedup_requests = CounterVec(
            "deduplicated_requests_total", "Requests that joined an in-flight call", ("kind",))
        # database
        self.db_pool_size = GaugeVec("db_pool_size", "Connections open", ("pool",))
        self.db_pool_in_use = GaugeVec("db_pool_in_use", "Connections in use", ("pool",))
        self.db_pool_waiting = GaugeVec("db_pool_waiting", "Acquires waiting", ("pool",))
        self.db_pool_max = GaugeVec("db_pool_max", "Pool maximum", ("pool",))
        self.db_query_latency = HistogramVec(
            "db_query_duration_seconds", "Database query time", ("pool", "query"))
        self.write_queue_depth = GaugeVec("write_behind_queue_depth", "Records waiting", ())
        self.write_spool_bytes = GaugeVec("write_behind_spool_bytes", "Bytes in the spool", ())
        self.write_records = CounterVec(
            "write_behind_records_total", "Records by outcome (journaled, written, spooled, "
            "replayed, duplicate, rejected)", ("outcome",))
        self.journal_fsyncs = CounterVec(
            "write_journal_fsyncs_total", "fsyncs of the local log (DURABILITY=local); each "
            "makes every record written since the last one durable", ())
        self.replica_lag = GaugeVec("db_replica_lag_seconds", "Replication lag", ("replica",),
                                    aggregate="max")
        self.replica_healthy = GaugeVec(
            "db_replica_healthy", "1 when a replica serves reads (reachable, lag within bound)",
            ("replica",), aggregate="min")
        self.db_reads = CounterVec(
            "db_reads_total", "History reads by the pool that served them (primary, replica)",
            ("target",))
        self.db_pool_refills = CounterVec(
            "db_pool_refills_total", "Connections opened to restore the pool floor", ("pool",))
        self.db_connections = GaugeVec(
            "db_connections", "Server connections to this database by state (monitor)", ("state",),
            aggregate="max")
        self.db_cache_hit_ratio = GaugeVec(
            "db_cache_hit_ratio", "Buffer cache hit ratio of this database (monitor)", (),
            aggregate="max")
        self.db_slow_statements = GaugeVec(
            "db_slow_statements", "Statements with mean time above 1 s", (), aggregate="max")
        self.db_slowest_statement_ms = GaugeVec(
            "db_slowest_statement_mean_ms", "Highest mean statement time seen (monitor)", (), aggregate="max")
        self.db_replication_lag_bytes = GaugeVec(
            "db_replication_lag_bytes", "WAL bytes a standby has yet to replay (primary's view)",
            ("replica",), aggregate="max")
        self.db_monitor_warnings = CounterVec(
            "db_monitor_warnings_total", "Monitor thresholds crossed", ("check",))
        # security
        self.auth_failures = CounterVec(
            "auth_failures_total", "Requests refused by the key check (missing, invalid, scope)",
            ("reason",))
        self.rate_limited = CounterVec(
            "rate_limited_total", "Requests refused by the rate limiter, by policy "
            "(anonymous, key; unavailable: refused because Redis is down and limits fail closed)",
            ("policy",))
        self.rate_limit_redis = CounterVec(
            "rate_limit_redis_calls_total", "Rate-limit calls to Redis (take: a lease; give_back)",
            ("op", "outcome"))
        self.rate_limit_mode = GaugeVec(
            "rate_limit_mode", "0 shared through Redis, 1 per worker, 2 open, 3 closed "
            "(worst over workers)", (), aggregate="max")
        self.api_keys_loaded = GaugeVec(
            "api_keys_cached", "Active API keys held in memory (per worker; max over workers)",
            (), aggregate="max")
        # process
        self.memory_actions = CounterVec(
            "memory_guard_actions_total", "Memory guard interventions (trim, clear)", ("action",))
        self.process_rss = GaugeVec(
            "process_resident_memory_bytes", "Resident memory of each worker", (),
            aggregate="all")
        self.memory_limit = GaugeVec(
            "memory_limit_bytes", "Memory the node may use (MEMORY_LIMIT or the cgroup's); "
            "0 when no limit is known", (), aggregate="max")
        if networks:
            for name in NETWORK_SCOPED:
                vec = getattr(self, name)
                vec.labelnames = (*vec.labelnames, "network")

    def for_network(self, chain_id: int) -> NodeMetrics:
        """These metrics as one network's components see them: the network-scoped
        vectors count with ``network="<chain id>"``, the others are these."""
        view = object.__new__(NodeMetrics)
        view.__dict__.update(vars(self))
        for name in NETWORK_SCOPED:
            setattr(view, name, Labelled(getattr(self, name), str(chain_id)))
        return view


class SupervisorMetrics:
    """What the node's main process counts (it serves no requests): written into the same
    multiprocess directory as the workers' files, so /metrics on any worker (and the
    admin listener) shows it."""

    def __init__(self) -> None:
        self.worker_restarts = CounterVec(
            "worker_restarts_total",
            "Workers that died without being asked to (a signal or an exit) and were "
            "replaced by the node's main process", ())
        self.worker_restarts.preset(())  # 0 from the start: increase() sees the first one
