"""A local cluster for cross-node tests: three node processes behind HAProxy, sharing
one Redis and PostgreSQL (primary + streaming replica behind PgBouncer), started once
for this folder's modules with ``bizra_node.cluster.up`` (stopped after the last of
them, so nothing of it runs beside other tests). Each test gets it with every node
running and UP in HAProxy: a node a test left dead is restarted first (``restart_node``, what
``bizra-node cluster restart`` does), and a cluster whose Redis, PgBouncer, PostgreSQL or
HAProxy a test left down is replaced by a fresh one, so one test's failure cannot fail
the next.

Each node has an upstream of its own: a counting proxy (in a thread, so it answers
while the test's loop is idle) in front of the session's anvil, so a test can say
which node went upstream and for what.

Cross-node tests of shared state that need a chain or settings of their own run
with plain node processes instead: key revocations and rate limits in
tests/e2e/test_security.py, reorg invalidations in tests/e2e/test_reorgs.py. A test that
fits this cluster (the session's devnet, the settings below) gets a module beside
test_cross_node.py that uses ``local_cluster``, passing what it needs through
``ClusterSpec.env``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bizra_node.cluster import (
    ClusterSpec,
    ClusterState,
    PgCluster,
    can_run_clusters,
    down,
    leftovers,
    load,
    restart_node,
    start_keeper,
    up,
    wait_balanced,
)
from bizra_node.cluster.haproxy import haproxy_binary
from bizra_node.cluster.procs import alive
from tests.conftest import Devnet
from tests.support.postgres import pgbouncer_binary
from tests.support.proxy import CountingProxy, threaded_counting_proxy

NODES = 3


def missing_cluster_tools() -> str | None:
    if haproxy_binary() is None:
        return "haproxy not installed (make haproxy)"
    if pgbouncer_binary() is None:
        return "pgbouncer not installed (make pgbouncer)"
    if shutil.which("redis-server") is None:
        return "redis-server not installed (make redis)"
    return can_run_clusters()


@dataclass
class LocalCluster:
    state: ClusterState
    proxies: list[CountingProxy]
    """proxies[i] is node i's upstream."""
    devnet: Devnet


def _shared_parts_down(state: ClusterState) -> list[str]:
    """What the nodes share and ``restart_node`` cannot bring back, if it is down."""
    down_parts = [name for name, pid in (("haproxy", state.haproxy_pid), ("redis", state.redis_pid),
                                         ("pgbouncer", state.pgbouncer_pid)) if not alive(pid)]
    for name, port in (("primary", state.pg_primary_port), ("replica", state.pg_replica_port)):
        if not PgCluster(state.folder / f"pg-{name}", port).running:
            down_parts.append(f"postgresql {name}")
    return down_parts


@pytest.fixture
def local_cluster(_shared_cluster: _ClusterHolder) -> LocalCluster:
    """The shared cluster in a known state before each test, whatever the last one
    left: every node running and UP in HAProxy, the keeper running, Redis, PgBouncer and
    both PostgreSQL servers up (else a fresh cluster is started in its place), and the
    upstream proxies' counts at zero."""
    cluster = _shared_cluster.cluster
    broken = _shared_parts_down(cluster.state)
    if broken:
        print(f"cluster: {', '.join(broken)} down after the last test: starting a fresh one")
        _shared_cluster.stop()
        cluster = _shared_cluster.start()
    state = cluster.state
    for i, pid in enumerate(state.node_pids):
        if not alive(pid):
            restart_node(state, i, by="test fixture")
    if not alive(state.keeper_pid):
        start_keeper(state)
    wait_balanced(state, timeout=60)
    dead = [i for i, pid in enumerate(state.node_pids) if not alive(pid)]
    assert not dead, f"nodes {dead} are not running before the test"
    assert not _shared_parts_down(state)
    for proxy in cluster.proxies:
        proxy.reset()
    return cluster


class _ClusterHolder:
    """The shared cluster, which ``local_cluster`` may replace by a fresh one."""

    def __init__(self, devnet: Devnet, stack: contextlib.ExitStack) -> None:
        self.devnet = devnet
        self.proxies = [stack.enter_context(threaded_counting_proxy(devnet.url))
                        for _ in range(NODES)]
        self.root: Path | None = None
        self._cluster: LocalCluster | None = None

    @property
    def cluster(self) -> LocalCluster:
        assert self._cluster is not None
        return self._cluster

    def start(self) -> LocalCluster:
        # not under pytest's tmp folder: that is root-only, and PostgreSQL runs as postgres
        self.root = Path(tempfile.mkdtemp(prefix="bizra-cluster-"))
        spec = ClusterSpec(
            root=self.root, nodes=NODES, workers=1, port=0, upstream=self.devnet.url,
            # a head cached in the shared L2 stays fresh for the test's span; no
            # background head polling (one upstream each anyway)
            env={"TTL_HEAD": "30", "HEAD_POLL_INTERVAL": "0", "LOG_LEVEL": "warning",
                 "METRICS_FLUSH_INTERVAL": "0.2", "DB_REPLICA_CHECK_INTERVAL": "1"},
            env_each=[{"BIZRA_NODE_URL": p.url} for p in self.proxies])
        self._cluster = LocalCluster(up(spec), self.proxies, self.devnet)
        return self._cluster

    def stop(self) -> None:
        root, self.root, self._cluster = self.root, None, None
        if root is None:
            return
        state = load(root)
        pids = state.pids() if state else []
        assert down(root)
        # down stops every process it started and leaves no state behind
        assert not [p for p in pids if alive(p)] and load(root) is None
        if state is not None:
            assert not [p.pid for i in range(NODES) for p in leftovers(state, i)]
        assert not PgCluster(root / "pg-primary", 0).running
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
def _shared_cluster(devnet: Devnet) -> Iterator[_ClusterHolder]:
    reason = missing_cluster_tools()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:
        holder = _ClusterHolder(devnet, stack)
        holder.start()
        try:
            yield holder
        finally:
            holder.stop()
