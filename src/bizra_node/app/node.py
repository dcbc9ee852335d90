"""The node of one worker: the networks it serves and what they share, started and
stopped in order.

The app package is the one place that reads ``Settings``: every package below takes
its own config object (configs.py), built here once. No module-level singletons: each
worker process (and each test) builds its own ``Node``. ``create_rsgi_app`` /
``create_asgi_app`` are the factories granian calls in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from ..api import (
    ASGIApp,
    CorsPolicy,
    Dispatcher,
    Guard,
    HistoryRoutes,
    Keepalive,
    MetricsEndpoints,
    ReadyCheck,
    Request,
    Response,
    Route,
    Routes,
    RSGIApp,
    WebSocketEndpoint,
    WebSocketRoutes,
    network_not_found,
    openapi_routes,
)
from ..cache import ChannelListener, connect_redis, open_pubsub
from ..lifeline import hold_lifeline
from ..observability import Exporter, MemoryGuard, NodeMetrics, configure_logging
from ..resilience import Periodic
from ..security import CHANGED, KeyHasher, KeyRing, RateLimiter, key_channel
from ..settings import Settings
from ..store import Store
from ..tuning import HARNESS, TUNING, Harness, Tuning
from .config_file import load_networks
from .configs import guard_config, limiter_config, redis_config, store_config
from .network import Edge, Network

log = logging.getLogger("bizra_node")


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



# --- the node ---------------------------------------------------------------------------
class Node:
    """All components of one worker, started and stopped in order: those of each
    network it serves (network.py), and the node's own, shared by them (metrics, the
    store, keys and rate limits, the dispatcher, the metrics exporter, the memory guard).
    ``networks``: the settings of each network, the default first (config_file.py);
    None: the one network of ``settings``. ``tuning`` and ``harness``: the internal
    constants and the benchmark switches (tuning.py), for a benchmark or a test to
    change; the node's own factories keep the defaults."""

    def __init__(self, settings: Settings, *, tuning: Tuning = TUNING,
                 harness: Harness = HARNESS, metrics_dir: str = "",
                 networks: Sequence[Settings] | None = None) -> None:
        self.settings = settings
        self.tuning = tuning
        t, h = tuning, harness
        several = networks is not None and len(networks) > 1
        self.metrics = NodeMetrics(networks=several)  # several: a `network` label
        self.store = (Store(store_config(settings, t), self.metrics) if settings.db_enabled
                      else None)
        self.security = Security(settings, t, self.metrics, self.store)
        cors = CorsPolicy(settings.cors_origins)
        edge = Edge(cors=cors, guard=self.security.guard, ring=self.security.ring)
        self.networks = [
            Network(s, self.metrics.for_network(s.bizra_network_id) if several
                    else self.metrics, self.store, edge=edge, tuning=t, harness=h,
                    default=i == 0, name_prefix=f"{s.bizra_network_id}/" if several else "")
            for i, s in enumerate(networks or (settings,))]
        default = self.networks[0]
        # the default network's components, by their names of a one-network node
        self.upstreams = default.upstreams
        self.cache = default.cache
        self.heads = default.heads
        self.consensus = default.consensus
        self.chain = default.chain
        self.prover = default.prover
        self.service = default.service
        self.reorgs = default.reorgs
        self.limits = default.limits
        self.filter_state = default.filter_state
        self.logs = default.logs
        self.filters = default.filters
        self.follower = default.follower
        self.hub = default.hub
        self.rpc = default.rpc
        ready_checks: dict[str, ReadyCheck] = {}
        if not several:  # one network: its checks are the node's, as they always were
            ready_checks.update(default.ready_checks)
        if self.store is not None:
            ready_checks["database"] = self.store.ready
        if self.security.guard is not None:
            ready_checks["security"] = self.security.ready
        self.exporter = Exporter(self.metrics, directory=metrics_dir,
                                 flush_interval=settings.metrics_flush_interval,
                                 enabled=h.metrics_enabled)
        self.memory_guard = MemoryGuard(
            self.metrics, limit=settings.memory_limit, workers=settings.workers,
            interval=t.memory_check_interval, high_ratio=t.memory_high_ratio,
            critical_ratio=t.memory_critical_ratio)
        for network in self.networks:
            self.memory_guard.add_target(network.cache)
        self.websocket: WebSocketEndpoint | WebSocketRoutes | None = (
            WebSocketRoutes([n.websocket for n in self.networks]) if several
            else default.websocket)
        services = {n.chain_id: n.service for n in self.networks}
        operations = Routes(self.service, ready_checks=ready_checks,
                            bench_endpoints=h.bench_endpoints, metrics=self.metrics,
                            services=services,
                            networks={n.chain_id: n.ready for n in self.networks}
                            if several else None)
        self._readiness = Periodic("readiness", operations.readiness, t.readiness_interval,
                                   logger=log)  # node_ready is 0 until the first check
        routes = [
            *operations.routes,
            *(route for n in self.networks for route in Routes(
                n.service, ready_checks={}, prefix=f"/api/v1/{n.chain_id}",
                operations=False, pinned=True).routes),
            *([] if settings.metrics_address else MetricsEndpoints(self.exporter).routes),
            *HistoryRoutes(self.store.history if self.store else None,
                           networks=services).routes,
            *(route for n in self.networks for route in n.rpc_route.routes),
            *openapi_routes(),
        ]
        self.dispatcher = Dispatcher(routes, settings.max_body_bytes,
                                     self.metrics if h.metrics_enabled else None,
                                     deadline=settings.request_deadline,
                                     guard=self.security.guard,
                                     body_timeout=settings.http_body_timeout or None,
                                     cors=cors, not_found=network_not_found(services))
        self.keepalive = (Keepalive(settings.tcp_keepalive) if settings.tcp_keepalive > 0
                          else None)
        self._started = False

    def network(self, chain_id: int) -> Network:
        """The components of the network ``chain_id`` (KeyError: not served)."""
        for network in self.networks:
            if network.chain_id == chain_id:
                return network
        raise KeyError(chain_id)

    async def start(self) -> None:
        for network in self.networks:
            await network.start()
        if self.store is not None:
            await self.store.start()  # migrate, pools, writer, monitor
        await self.security.start()  # keys are read from the store
        self.exporter.start()
        self.memory_guard.start()
        self._readiness.start()
        self._started = True
        log.info("node started", extra={
            "upstreams": [u.name for n in self.networks for u in n.upstreams.upstreams],
            "network_id": self.settings.bizra_network_id,
            "networks": [n.chain_id for n in self.networks]})

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self._readiness.stop()
        await self.memory_guard.stop()
        for network in self.networks:
            await network.stop_following()
        await self.security.stop()
        for network in self.networks:
            await network.stop()
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
        self.websocket: WebSocketEndpoint | WebSocketRoutes | None = None
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
    settings = load_networks().default
    configure_logging(settings.log_level, settings.log_format)
    return RSGIApp(AdminNode(settings, metrics_directory()))


def serving_node() -> Node:
    """The node of a worker: the networks of the configuration file (BIZRA_CONFIG), else
    the environment's one."""
    networks = load_networks(serving=True)
    settings = networks.default
    configure_logging(settings.log_level, settings.log_format)
    return Node(settings, metrics_dir=metrics_directory(), networks=networks.settings)


def create_rsgi_app() -> RSGIApp:
    hold_lifeline()
    return RSGIApp(serving_node())


def create_asgi_app() -> ASGIApp:
    hold_lifeline()
    return ASGIApp(serving_node())
