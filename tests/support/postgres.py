"""Real PostgreSQL for tests: scratch databases on the machine's server, clusters of a
test's own (initdb on a free port, stopped and started at will, streaming replicas
made with pg_basebackup) and a real PgBouncer in front of one.

PostgreSQL and PgBouncer refuse to run as root: when the tests run as root, the
processes run as the ``postgres`` system user (runuser) in folders it owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from bizra_node.devnet import free_port, stop_process

__all__ = [
    "PG_BIN",
    "SHARED_DSN",
    "PgBouncer",
    "PgCluster",
    "can_run_clusters",
    "pgbouncer_binary",
    "scratch_database",
]

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_RUN_AS = "postgres"


def _as_user() -> list[str]:
    return ["runuser", "-u", _RUN_AS, "--"] if os.geteuid() == 0 else []


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(_RUN_AS)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def can_run_clusters() -> str | None:
    """None when initdb clusters can be made here, else the reason they cannot."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_RUN_AS)
        except KeyError:
            return f"running as root and there is no {_RUN_AS!r} user to run PostgreSQL as"
    return None


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


class PgCluster:
    """A PostgreSQL cluster in a temp folder on a free port (loopback, trust auth)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.log = root / "server.log"

    # --- making -------------------------------------------------------------------
    @classmethod
    def create(cls, *, replication: bool = True) -> PgCluster:
        root = Path(tempfile.mkdtemp(prefix="bizra-pg-"))
        _chown(root)
        cluster = cls(root, free_port())
        cluster._run(["initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync"])
        conf = [f"port = {cluster.port}", "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{root}'", "fsync = off",
                "synchronous_commit = off", "full_page_writes = off",
                "shared_buffers = 32MB", "max_connections = 100",
                "shared_preload_libraries = 'pg_stat_statements'"]
        if replication:
            conf += ["wal_level = replica", "max_wal_senders = 4", "hot_standby = on"]
        with open(cluster.data / "postgresql.conf", "a") as f:
            f.write("\n".join(conf) + "\n")
        with open(cluster.data / "pg_hba.conf", "a") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        return cluster

    def make_replica(self) -> PgCluster:
        """A hot standby streaming from this cluster (pg_basebackup -R)."""
        root = Path(tempfile.mkdtemp(prefix="bizra-pg-replica-"))
        _chown(root)
        replica = PgCluster(root, free_port())
        self._run(["pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "-D", str(replica.data), "-R", "-X", "stream", "--no-sync"])
        with open(replica.data / "postgresql.conf", "a") as f:
            f.write(f"port = {replica.port}\nunix_socket_directories = '{root}'\n")
        return replica

    def _run(self, argv: list[str]) -> None:
        cmd = [*_as_user(), str(PG_BIN / argv[0]), *argv[1:]]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    # --- running ------------------------------------------------------------------
    def start(self) -> PgCluster:
        self._run(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                   "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn(name)

    @classmethod
    @contextlib.contextmanager
    def running_cluster(cls) -> Iterator[PgCluster]:
        cluster = cls.create().start()
        try:
            yield cluster
        finally:
            cluster.destroy()


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
