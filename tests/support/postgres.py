"""Real PostgreSQL for tests: scratch databases on the machine's server, clusters of a
test's own (``bizra_node.cluster.PgCluster``: initdb on a free port, stopped and started
at will, streaming replicas made with pg_basebackup) and a real PgBouncer in front of one.

PostgreSQL and PgBouncer refuse to run as root: when the tests run as root, the
processes run as the ``postgres`` system user (runuser) in folders it owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from bizra_node.cluster.postgres import (
    PG_BIN,
    PgCluster,
    as_postgres_user,
    can_run_clusters,
    chown_to_postgres,
)
from bizra_node.devnet import stop_process

__all__ = [
    "PG_BIN",
    "SHARED_DSN",
    "PgBouncer",
    "PgCluster",
    "can_run_clusters",
    "pgbouncer_binary",
    "scratch_database",
]

SHARED_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_as_user = as_postgres_user
_chown = chown_to_postgres


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


@contextlib.asynccontextmanager
async def scratch_database(dsn: str = SHARED_DSN) -> AsyncIterator[str]:
    """A database of this test's own on the machine's server; yields its DSN."""
    name = f"bizra_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = dsn.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


class PgBouncer:
    """Debian's pgbouncer on a config file, as the postgres user when root."""

    def __init__(self, ini: Path) -> None:
        self.ini = ini
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int, timeout: float = 15.0) -> PgBouncer:
        binary = pgbouncer_binary()
        assert binary is not None
        for path in (self.ini.parent, self.ini, self.ini.parent / "userlist.txt"):
            if path.exists():
                _chown(path)
        self.proc = subprocess.Popen([*_as_user(), binary, str(self.ini)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        import socket

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"pgbouncer exited: {out[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("pgbouncer did not start listening")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
