"""A whole deployment on one machine, without containers: ``bizra-node cluster up``.

N node processes (``bizra-node serve``, each on its own port) behind HAProxy (health
checks on ``/ready``), sharing one Redis (L2) and one PostgreSQL primary (writes through
PgBouncer) with a streaming replica (reads), and a seeded anvil devnet as the upstream
(or an upstream given by URL). Everything lives under one folder (``.cluster/``): data,
logs and ``state.json`` with every pid and port, so ``cluster down`` (another process)
stops exactly what ``up`` started, and ``up`` twice does not start a second cluster.
Each node's process is in ``run/node<i>.json`` (``nodes.py``); a keeper process
(``keeper.py``) starts a node that died again, and ``cluster restart NODE`` does it on
demand.

The PostgreSQL servers are throwaway (fsync off); this is for development, tests and
measurements, not for keeping data.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..devnet import find_anvil, free_port, seed
from ..store import PgBouncerConfig, parse_backend, render_ini, render_userlist
from . import haproxy
from .nodes import read_run, start_node, stop_node, wait_node
from .postgres import PgCluster, as_postgres_user, can_run_clusters, chown_to_postgres
from .procs import (
    alive,
    port_open,
    read_pidfile,
    spawn,
    stop_pid,
    wait_for,
)

__all__ = ["ClusterAlreadyUp", "ClusterSpec", "ClusterState", "down", "load", "start_keeper",
           "status", "up", "wait_balanced"]

DATABASE = "bizra"
STATE_FILE = "state.json"


class ClusterAlreadyUp(RuntimeError):
    def __init__(self, state: ClusterState) -> None:
        super().__init__(f"a cluster is already running from {state.root} "
                         f"(balancer {state.balancer_url}); `bizra-node cluster down` stops it")
        self.state = state


@dataclass
class ClusterSpec:
    root: Path = Path(".cluster")
    nodes: int = 3
    workers: int = 1
    """granian workers per node."""
    port: int = 8090
    """The balancer's port; 0 picks a free one."""
    upstream: str = ""
    """BIZRA_NODE_URL for the nodes; empty starts a seeded anvil devnet."""
    env: dict[str, str] = field(default_factory=dict)
    """More node settings (environment variables), e.g. TTL_HEAD."""
    env_each: list[dict[str, str]] = field(default_factory=list)
    """Settings for one node each (node i gets ``env_each[i]``), e.g. its own upstream."""
    ready_timeout: float = 90.0
    balancer_cache_mb: int = 64
    """HAProxy's cache of final GET answers, MB of RAM; 0 = no cache."""
    keep_nodes: bool = True
    """Run the keeper, which starts a node that died again (off only to test ``down``)."""


@dataclass
class ClusterState:
    """Every pid, port and folder of a running cluster (``<root>/state.json``)."""

    root: str
    balancer_port: int = 0
    stats_port: int = 0
    haproxy_pid: int | None = None
    balancer_cache_mb: int = 0
    node_ports: list[int] = field(default_factory=list)
    node_env: dict[str, str] = field(default_factory=dict)
    node_env_each: list[dict[str, str]] = field(default_factory=list)
    workers: int = 1
    redis_port: int = 0
    redis_pid: int | None = None
    pg_primary_port: int = 0
    pg_replica_port: int = 0
    pgbouncer_port: int = 0
    pgbouncer_pid: int | None = None
    anvil_port: int = 0
    anvil_pid: int | None = None
    keeper_pid: int | None = None
    upstream: str = ""
    cache_secret: str = field(default_factory=lambda: os.urandom(32).hex())
    """CACHE_SECRET every node of this cluster shares (their L2 entries are sealed with it)."""

    # --- addresses ------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return Path(self.root)

    @property
    def balancer_url(self) -> str:
        return f"http://127.0.0.1:{self.balancer_port}"

    @property
    def node_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.node_ports]

    @property
    def node_pids(self) -> list[int | None]:
        """Each node's main process as last started (read afresh: the keeper and
        ``cluster restart`` change them from other processes)."""
        return [read_run(self.folder, i).pid for i in range(len(self.node_ports))]

    @property
    def primary_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_primary_port}/{DATABASE}"

    @property
    def replica_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_replica_port}/{DATABASE}"

    @property
    def pgbouncer_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pgbouncer_port}/{DATABASE}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # --- persistence ----------------------------------------------------------------
    def save(self) -> None:
        path = self.folder / STATE_FILE
        # one temporary file per thread: up() saves from several threads
        tmp = path.with_name(f".{STATE_FILE}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    def pids(self) -> list[int]:
        found = [self.keeper_pid, self.haproxy_pid, *self.node_pids, self.pgbouncer_pid,
                 self.redis_pid, self.anvil_pid]
        return [p for p in found if p]

    def running(self) -> bool:
        return any(alive(p) for p in self.pids()) or self._pg(self.pg_primary_port, "primary")

    def _pg(self, port: int, name: str) -> bool:
        return bool(port) and PgCluster(self.folder / f"pg-{name}", port).running


def load(root: Path) -> ClusterState | None:
    """The state of the cluster under ``root``, if one was started there."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    known = {f.name for f in fields(ClusterState)}
    return ClusterState(**{k: v for k, v in data.items() if k in known})


# --- up -------------------------------------------------------------------------------
def up(spec: ClusterSpec, log: Callable[[str], None] = lambda _m: None) -> ClusterState:
    """Start everything, wait until the balancer sees every node UP; the state."""
    reason = can_run_clusters()
    if reason:
        raise RuntimeError(f"cannot start PostgreSQL: {reason}")
    binary = haproxy.haproxy_binary()
    if binary is None:
        raise RuntimeError("haproxy not found: `make haproxy` installs Debian's package")
    root = spec.root.resolve()
    existing = load(root)
    if existing is not None:
        if existing.running():
            raise ClusterAlreadyUp(existing)
        down(root)  # a stale state: clean up what is left of it
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # PostgreSQL and PgBouncer run as the postgres user when we are root
    state = ClusterState(root=str(root), workers=spec.workers, upstream=spec.upstream,
                         balancer_cache_mb=spec.balancer_cache_mb)
    state.balancer_port = spec.port or free_port()
    if port_open(state.balancer_port):
        raise RuntimeError(f"port {state.balancer_port} is taken: pass --port")
    state.save()
    lock = threading.Lock()

    def saved(step: Callable[[ClusterState], None]) -> Callable[[], None]:
        def run() -> None:
            step(state)
            with lock:
                state.save()
        return run

    try:
        with ThreadPoolExecutor(3) as pool:
            jobs = [pool.submit(saved(_start_redis)), pool.submit(saved(_start_postgres))]
            if not spec.upstream:
                jobs.append(pool.submit(saved(_start_anvil)))
            for job in jobs:
                job.result()
        log(f"redis :{state.redis_port}, postgres primary :{state.pg_primary_port} + replica "
            f":{state.pg_replica_port} behind pgbouncer :{state.pgbouncer_port}, "
            f"upstream {state.upstream}")
        state.node_env = _node_env(state, spec.env)
        state.node_env_each = [dict(e) for e in spec.env_each]
        state.node_ports = [free_port() for _ in range(spec.nodes)]
        state.save()
        for i in range(spec.nodes):
            start_node(state, i, wait=False)
        for i in range(spec.nodes):
            wait_node(state, i, spec.ready_timeout)
        log(f"{spec.nodes} nodes ready: {', '.join(state.node_urls)}")
        _start_haproxy(state, binary)
        state.save()
        wait_balanced(state, timeout=30)
        if spec.keep_nodes:
            start_keeper(state)
    except BaseException:
        down(root)
        raise
    return state


def _start_redis(state: ClusterState) -> None:
    folder = state.folder / "redis"
    folder.mkdir(exist_ok=True)
    port = free_port()
    pidfile = folder / "redis.pid"
    binary = shutil.which("redis-server") or "redis-server"
    spawn([binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
           "--pidfile", str(pidfile), "--dir", str(folder), "--logfile", str(folder / "redis.log"),
           "--save", "", "--appendonly", "no"], state.folder / "logs" / "redis-start.log")
    wait_for(lambda: port_open(port) and read_pidfile(pidfile) is not None,
             "redis-server did not start", 15)
    state.redis_port, state.redis_pid = port, read_pidfile(pidfile)


def _start_postgres(state: ClusterState) -> None:
    primary = PgCluster.create(state.folder / "pg-primary", max_connections=200).start()
    state.pg_primary_port = primary.port
    state.save()
    asyncio.run(primary.create_database(DATABASE))
    replica = primary.make_replica(state.folder / "pg-replica").start()
    state.pg_replica_port = replica.port
    state.save()
    _start_pgbouncer(state)


def _start_pgbouncer(state: ClusterState) -> None:
    folder = state.folder / "pgbouncer"
    folder.mkdir(exist_ok=True)
    chown_to_postgres(folder)
    port = free_port()
    config = PgBouncerConfig(listen_port=port, default_pool_size=40, min_pool_size=0,
                             reserve_pool_size=5, max_user_connections=120,
                             max_db_connections=120)
    backend = parse_backend(state.primary_dsn)
    userlist = folder / "userlist.txt"
    ini = folder / "pgbouncer.ini"
    pidfile = folder / "pgbouncer.pid"
    text = render_ini(config, backend, userlist)
    text += f"logfile = {folder / 'pgbouncer.log'}\npidfile = {pidfile}\n"
    ini.write_text(text)
    userlist.write_text(render_userlist(backend))
    for path in (ini, userlist):
        path.chmod(0o600)
        chown_to_postgres(path)
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise RuntimeError("pgbouncer not found: `make pgbouncer` installs Debian's package")
    spawn([*as_postgres_user(), binary, "-d", str(ini)],
          state.folder / "logs" / "pgbouncer-start.log")
    wait_for(lambda: port_open(port) and read_pidfile(pidfile) is not None,
             "pgbouncer did not start", 15)
    state.pgbouncer_port, state.pgbouncer_pid = port, read_pidfile(pidfile)


def _start_anvil(state: ClusterState) -> None:
    port = free_port()
    pid = spawn([find_anvil(), "--host", "127.0.0.1", "--port", str(port), "--silent",
                 "--chain-id", "31337", "--slots-in-an-epoch", "2"],
                state.folder / "logs" / "anvil.log")
    state.anvil_port, state.anvil_pid = port, pid
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: port_open(port), "anvil did not start", 15)
    manifest = seed(url)
    (state.folder / "seed.json").write_text(manifest.to_json())
    state.upstream = url


def _node_env(state: ClusterState, extra: dict[str, str]) -> dict[str, str]:
    env = {
        "BIZRA_NODE_URL": state.upstream,
        "DATABASE_URL": state.pgbouncer_dsn,
        "DB_PGBOUNCER": "session",
        "DB_READ_URLS": state.replica_dsn,
        "REDIS_URL": state.redis_url,
        "REDIS_MODE": "standalone",
        "CACHE_SECRET": state.cache_secret,
        "BIZRA_WORKERS": str(state.workers),
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    env.update(extra)
    return env


def start_keeper(state: ClusterState) -> int:
    """Start the keeper (keeper.py) that starts dead nodes again; its pid."""
    state.keeper_pid = spawn([sys.executable, "-m", "bizra_node.cluster.keeper",
                              str(state.folder)], state.folder / "logs" / "keeper.log",
                             cwd=state.folder)
    state.save()
    return state.keeper_pid


def _start_haproxy(state: ClusterState, binary: str) -> None:
    folder = state.folder / "haproxy"
    folder.mkdir(exist_ok=True)
    state.stats_port = free_port()
    pidfile = folder / "haproxy.pid"
    config = folder / "haproxy.cfg"
    config.write_text(haproxy.render_config(port=state.balancer_port, stats_port=state.stats_port,
                                            node_ports=state.node_ports, pidfile=pidfile,
                                            cache_mb=state.balancer_cache_mb))
    spawn([binary, "-D", "-f", str(config)], state.folder / "logs" / "haproxy.log")
    wait_for(lambda: read_pidfile(pidfile) is not None and port_open(state.stats_port),
             "haproxy did not start", 15)
    state.haproxy_pid = read_pidfile(pidfile)


def wait_balanced(state: ClusterState, timeout: float = 30.0,
                  expect: dict[str, str] | None = None) -> dict[str, str]:
    """Wait until HAProxy reports ``expect`` (default: every node UP); the states."""
    want = expect or {f"node{i + 1}": "UP" for i in range(len(state.node_ports))}
    seen: dict[str, str] = {}

    def matches() -> bool:
        nonlocal seen
        try:
            seen = haproxy.server_states(state.stats_port)
        except OSError:
            return False
        return all(seen.get(k) == v for k, v in want.items())

    try:
        wait_for(matches, "haproxy did not see the nodes as expected", timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: want {want}, saw {seen}") from None
    return seen


# --- down and status --------------------------------------------------------------------
def down(root: Path) -> bool:
    """Stop everything started under ``root`` and remove its data (logs stay);
    False when there was nothing to stop."""
    root = root.resolve()
    state = load(root)
    if state is None:
        return False
    stop_pid(state.keeper_pid, grace=10)  # first: it would start the nodes again
    stop_pid(state.haproxy_pid, grace=5)
    for i in range(len(state.node_ports)):
        stop_node(state, i)  # orphaned workers of a killed node too
    stop_pid(state.pgbouncer_pid, grace=5)
    for name in ("replica", "primary"):
        folder = root / f"pg-{name}"
        if (folder / "data").exists():
            PgCluster(folder, 0).stop("fast")
    stop_pid(state.redis_pid, grace=5)
    stop_pid(state.anvil_pid, grace=5, group=True)
    for name in ("pg-primary", "pg-replica", "pgbouncer", "redis", "haproxy", "seed.json", "run",
                 *(f"node{i + 1}" for i in range(len(state.node_ports)))):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    (root / STATE_FILE).unlink(missing_ok=True)
    return True


def status(root: Path) -> dict[str, Any] | None:
    """What runs under ``root``: addresses, pids alive, HAProxy's view of the nodes,
    each node's restarts, the keeper."""
    state = load(root.resolve())
    if state is None:
        return None
    try:
        balancer = haproxy.server_states(state.stats_port) if state.stats_port else {}
    except OSError:
        balancer = {}
    return {
        "balancer": state.balancer_url,
        "stats": f"http://127.0.0.1:{state.stats_port}/stats",
        "balancer_cache_mb": state.balancer_cache_mb,
        "nodes": [_node_status(state, i, balancer) for i in range(len(state.node_ports))],
        "keeper": {"pid": state.keeper_pid, "alive": alive(state.keeper_pid)},
        "redis": state.redis_url,
        "database": {"pgbouncer": state.pgbouncer_dsn, "primary": state.primary_dsn,
                     "replica": state.replica_dsn},
        "upstream": state.upstream,
        "seed": str(state.folder / "seed.json") if state.anvil_pid else None,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _node_status(state: ClusterState, i: int, balancer: dict[str, str]) -> dict[str, Any]:
    run = read_run(state.folder, i)
    return {"name": f"node{i + 1}", "url": state.node_urls[i], "pid": run.pid,
            "alive": alive(run.pid), "balancer": balancer.get(f"node{i + 1}", "?"),
            "restarts": run.restarts, "last_restart": run.last_restart}
