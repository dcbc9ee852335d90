"""Redis beyond one server, for tests: a real Redis Cluster (three masters, made with
``redis-cli --cluster create``) and a real Sentinel (a master, a replica, one sentinel),
each on free ports in temporary folders, started and stopped by the test."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

import redis

from bizra_node.devnet import free_port

from .redis_server import RedisServer

__all__ = ["LocalRedisCluster", "LocalSentinel", "missing_redis_tools"]


def missing_redis_tools() -> str | None:
    """None when redis-server and redis-cli are here, else what is missing."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (make redis installs it)"
    return None


def _wait(check: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout}s")


@dataclass
class LocalRedisCluster:
    """Three masters, no replicas; slots spread by ``redis-cli --cluster create``."""

    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """REDIS_URL for REDIS_MODE=cluster: every node, comma-separated."""
        return ",".join(f"redis://127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, masters: int = 3, timeout: float = 30.0) -> LocalRedisCluster:
        try:
            for _ in range(masters):
                # The cluster bus gets a free port of its own (the default, port+10000,
                # may be taken on a shared machine).
                self.nodes.append(RedisServer(args=[
                    "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                    "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                ]).start())
            subprocess.run(
                ["redis-cli", "--cluster", "create",
                 *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout)
            _wait(self._ok, "the cluster did not report cluster_state:ok", timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _ok(self) -> bool:
        for node in self.nodes:
            client = redis.Redis(port=node.port, socket_timeout=1)
            try:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
            finally:
                client.close()
        return True

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
        self.nodes.clear()


@dataclass
class LocalSentinel:
    """A master, its replica and one sentinel watching them (quorum 1, down after 1 s)."""

    master_name: str = "bizra-test"
    master: RedisServer | None = None
    replica: RedisServer | None = None
    sentinel: RedisServer | None = None

    @property
    def url(self) -> str:
        """REDIS_URL for REDIS_MODE=sentinel: the sentinel's address."""
        assert self.sentinel is not None
        return f"redis://127.0.0.1:{self.sentinel.port}"

    def start(self, timeout: float = 30.0) -> LocalSentinel:
        try:
            # no 5 s wait before the first full sync (repl-diskless-sync-delay)
            self.master = RedisServer(args=["--repl-diskless-sync-delay", "0"]).start()
            self.replica = RedisServer(
                args=["--replicaof", "127.0.0.1", str(self.master.port)]).start()
            _wait(self._replicating, "the replica did not sync", timeout)
            name = self.master_name
            config = "\n".join([
                f"sentinel monitor {name} 127.0.0.1 {self.master.port} 1",
                f"sentinel down-after-milliseconds {name} 1000",
                f"sentinel failover-timeout {name} 5000",
                f"sentinel parallel-syncs {name} 1", ""])
            self.sentinel = RedisServer(args=["--sentinel"], config=config).start()
            _wait(self._sentinel_sees_replica, "the sentinel did not find the replica", timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _replicating(self) -> bool:
        assert self.replica is not None
        client = redis.Redis(port=self.replica.port, socket_timeout=1)
        try:
            return bool(client.info("replication").get("master_link_status") == "up")
        finally:
            client.close()

    def _sentinel_sees_replica(self) -> bool:
        assert self.sentinel is not None
        client = redis.Redis(port=self.sentinel.port, socket_timeout=1)
        try:
            return bool(client.sentinel_slaves(self.master_name))
        finally:
            client.close()

    def master_port(self) -> int:
        """The port the sentinel currently names as the master's."""
        assert self.sentinel is not None
        client = redis.Redis(port=self.sentinel.port, socket_timeout=1)
        try:
            _host, port = client.sentinel_get_master_addr_by_name(self.master_name)
            return int(port)
        finally:
            client.close()

    def cleanup(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            if server is not None:
                server.cleanup()
