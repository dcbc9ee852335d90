"""A redis-server of a test's own, on a free port in a temporary folder, so a test
may stop, kill or restart it without touching the machine's shared Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bizra_node.devnet import free_port, stop_process, wait_ready

__all__ = ["SHARED_REDIS", "RedisServer"]

SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The machine's Redis: shared, so tests use it only under a unique key prefix."""


class RedisServer:
    def __init__(self, port: int | None = None, args: Sequence[str] = (),
                 config: str = "") -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bizra-redis-"))
        self.args = list(args)
        """Extra redis-server arguments (cluster mode, replicaof, --sentinel)."""
        self.config = config
        """Text of a config file written into the folder and given first (a sentinel's)."""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not on PATH")
        self.proc = subprocess.Popen(
            [binary, *self._config_file(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning",
             *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_ready(self.proc, self._answers, what=f"redis-server on port {self.port}",
                       timeout=timeout, interval=0.02)
        except TimeoutError:
            self.stop()
            raise
        return self

    def _config_file(self) -> list[str]:
        if not self.config:
            return []
        path = self.dir / "redis.conf"
        path.write_text(self.config)
        return [str(path)]

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: the way a crashed Redis goes (no clean close of client sockets)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        stop_process(self.proc, grace=5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
