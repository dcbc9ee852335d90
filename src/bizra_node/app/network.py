"""One network's components: what a node builds per chain it serves.

A node serves one or more EVM networks (``[[networks]]`` of the config file,
config_file.py; without one, the network of the environment's settings). Each has
its own upstreams, cache (keys carry the chain id), chain view and anchor, prover,
validation and /rpc services, reorg handler (its channel carries the chain id),
filters (their state keyed by chain id), head follower and subscription hub: nothing
one network learns or caches is ever answered on another, and one whose upstreams
are down leaves the others' answers alone. What is shared (metrics, the store, the
guard, the dispatcher) is the node's (node.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..api import (
    DEFAULT_COSTS,
    CorsPolicy,
    Guard,
    ReadyCheck,
    RpcRoute,
    SocketGuard,
    WebSocketEndpoint,
    run_checks,
)
from ..cache import (
    ChannelListener,
    LocalState,
    RedisState,
    SharedState,
    TieredCache,
    connect_redis,
    open_pubsub,
)
from ..chain import HeadFollower, SubscriptionFeed, UpstreamPool
from ..consensus import (
    BeaconApiError,
    BeaconSource,
    BeaconSourceConfig,
    ConsensusError,
    ExecutionHead,
)
from ..consensus import Check as ConsensusCheck
from ..observability import NodeMetrics
from ..security import KeyRing
from ..settings import Settings, shown_url
from ..store import Store
from ..tuning import HARNESS, TUNING, Harness, Tuning
from ..validation import (
    INCIDENT_REASONS,
    ChainView,
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
)
from .configs import (
    beacon_source_config,
    cache_config,
    chain_view_config,
    follow_config,
    redis_config,
    rpc_limits,
    upstream_config,
    ws_targets,
)

log = logging.getLogger("bizra_node")

_CHECKS = tuple(ConsensusCheck)


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




@dataclass(frozen=True, slots=True)
class Edge:
    """What every network's /rpc shares with the node: CORS, the guard, the key ring."""

    cors: CorsPolicy
    guard: Guard | None = None
    ring: KeyRing | None = None


class Network:
    """The components of one network, in one worker. ``default``: the network the
    paths without a chain id (``/rpc``, ``/api/v1/validate/...``) serve."""

    def __init__(self, settings: Settings, metrics: NodeMetrics, store: Store | None, *,
                 edge: Edge, tuning: Tuning = TUNING, harness: Harness = HARNESS,
                 default: bool = True, name_prefix: str = "") -> None:
        self.settings = settings
        self.chain_id = settings.bizra_network_id
        self.default = default
        self.metrics = metrics
        t, h = tuning, harness
        self.upstreams = UpstreamPool(upstream_config(settings, t, h, name_prefix=name_prefix),
                                      metrics)
        self.cache = TieredCache(cache_config(settings, t), metrics)
        self.heads = open_heads(settings)
        beacon = beacon_source_config(settings, t)
        self.consensus = (ConsensusAnchor(beacon, metrics, t) if beacon is not None
                          else None)
        self.chain = ChainView(self.upstreams, chain_view_config(settings, t), self.cache,
                               self.heads,
                               self.consensus.source if self.consensus is not None else None,
                               votes=self.upstreams)
        if self.consensus is not None:  # a newly signed finalized block: the anchor moves
            self.consensus.add_listener(self.chain.anchors.expire)
        self.prover = Prover(self.upstreams, self.chain, memo_blocks=t.trust_block_memo,
                             memo_bytes=t.trust_block_memo_bytes,
                             pooled_blob_leaves=h.pooled_blob_leaves)
        if t.trust_prefetch:  # a new head's block proven before its transactions are asked
            self.chain.headers.add_head_listener(self.prover.prefetch)
        # the node's promise: every check per upstream at 0 from the start, so the first
        # integrity failure is an increase an alert sees (not a series appearing at 1)
        metrics.upstream_integrity_failures.preset(
            *((name, check.value) for name in self.upstreams.names for check in Check))
        self.service = ValidationService(self.upstreams, self.chain, self.prover,
                                         network_id=self.chain_id, cache=self.cache,
                                         recorder=store.recorder if store else None,
                                         require_proven=settings.trust_require == "proven")
        self.ready_checks: dict[str, ReadyCheck] = {"upstream": self._upstream_ready,
                                                    "redis": self.cache.ready}
        if self.consensus is not None:
            self.ready_checks["beacon"] = self.consensus.ready
        metrics.anchor_incidents.preset(*((reason,) for reason in INCIDENT_REASONS))
        metrics.anchor_incident.preset(())
        self.chain.anchors.add_incident_listener(self._anchor_incident)
        self.ready_checks["anchor"] = self._anchor_ready
        self.reorgs = Reorgs(settings, self.chain, self.cache, metrics, store)
        self.ready_checks["reorgs"] = self.reorgs.ready
        # /rpc: filters in shared state, one head follower and one subscription hub per
        # worker and network
        self.limits = rpc_limits(settings, t)
        redis = redis_config(settings)
        self.filter_state: SharedState = (
            RedisState(redis, f"{settings.cache_key_prefix}:state:{self.chain_id}:")
            if redis is not None else LocalState())
        # logs made by the node from proven headers and receipts (with TRUST_RPC)
        self.logs = (ProvenLogs(self.upstreams, self.chain, self.prover,
                                max_range=self.limits.max_logs_range)
                     if settings.trust_rpc else None)
        self.filters = FilterService(self.upstreams, self.chain, self.filter_state,
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
                              limits=self.limits, network_id=self.chain_id,
                              logs=self.logs,
                              proofs=RpcProofs(self.prover, self.chain_id)
                              if settings.trust_rpc else None,
                              require_proven=settings.trust_require == "proven")
        paths = (("/rpc", f"/rpc/{self.chain_id}") if default
                 else (f"/rpc/{self.chain_id}",))
        self.rpc_route = RpcRoute(self.rpc, limits=self.limits, cors=edge.cors,
                                  costs={**DEFAULT_COSTS, **settings.rpc_costs}, paths=paths)
        self.websocket = WebSocketEndpoint(
            self.rpc_route.answerer, self.hub, deadline=settings.request_deadline,
            guard=SocketGuard(edge.guard, edge.cors, self.rpc_route.cost, ring=edge.ring),
            paths=paths)

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

    async def ready(self) -> dict[str, Any]:
        """This network's checks together: ok when each is (its upstreams answer)."""
        checks = await run_checks(self.ready_checks)
        return {"ok": all(c.get("ok") for c in checks.values()), "default": self.default,
                "checks": checks}

    async def start(self) -> None:
        await self.upstreams.start()
        await self.upstreams.check_chains()  # before anything is asked of another chain
        await self.cache.start()
        if self.consensus is not None:
            await self.consensus.start()  # the light client's first round, bounded
        await self.chain.start()  # the anchor, and the canonical hashes up to the head
        self.reorgs.start()
        self.follower.start()

    async def stop_following(self) -> None:
        """The first half of stopping: no more heads, reorg notices, subscriptions."""
        await self.follower.stop()
        await self.reorgs.stop()
        await self.hub.close()
        await self.filter_state.close()
        await self.prover.close()

    async def stop(self) -> None:
        """The second half (after the node's guard): the chain view, cache, upstreams."""
        await self.chain.close()
        if self.consensus is not None:
            await self.consensus.stop()
        if self.heads is not None:
            self.heads.close()
        await self.cache.close()
        await self.upstreams.close()
