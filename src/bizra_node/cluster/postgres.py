"""PostgreSQL servers of our own: initdb on a port, streaming replicas by pg_basebackup.

Debian's PostgreSQL binaries (``/usr/lib/postgresql/<version>/bin``, or PG_BIN). They
refuse to run as root: as root, every command runs as the ``postgres`` system user
(runuser) in folders it owns. Used by ``bizra-node cluster`` and by the tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..devnet import free_port

__all__ = ["PG_BIN", "PgCluster", "as_postgres_user", "can_run_clusters", "chown_to_postgres"]

_RUN_AS = "postgres"


def _find_bin() -> Path:
    env = os.environ.get("PG_BIN")
    if env:
        return Path(env)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _find_bin()


def as_postgres_user() -> list[str]:
    """Command prefix that runs the rest as the postgres user when we are root."""
    return ["runuser", "-u", _RUN_AS, "--"] if os.geteuid() == 0 else []


def chown_to_postgres(path: Path) -> None:
    """Give ``path`` to the postgres user when we are root (a no-op otherwise)."""
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


class PgCluster:
    """A PostgreSQL cluster in a folder on a port (loopback, trust auth).

    Made for throwaway use (tests, the local cluster): fsync and full-page writes are
    off, so a machine crash may lose it.
    """

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.log = root / "server.log"

    # --- making -------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path | None = None, port: int | None = None, *,
               replication: bool = True, max_connections: int = 100) -> PgCluster:
        """initdb in ``root`` (default: a new temp folder) for ``port`` (default: free)."""
        root = cls._folder(root, "bizra-pg-")
        cluster = cls(root, port or free_port())
        cluster._run(["initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync"])
        conf = [f"port = {cluster.port}", "listen_addresses = '127.0.0.1'",
                f"unix_socket_directories = '{root}'", "fsync = off",
                "synchronous_commit = off", "full_page_writes = off",
                "shared_buffers = 32MB", f"max_connections = {max_connections}",
                "shared_preload_libraries = 'pg_stat_statements'"]
        if replication:
            conf += ["wal_level = replica", "max_wal_senders = 4", "hot_standby = on"]
        with open(cluster.data / "postgresql.conf", "a") as f:
            f.write("\n".join(conf) + "\n")
        with open(cluster.data / "pg_hba.conf", "a") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        return cluster

    def make_replica(self, root: Path | None = None, port: int | None = None) -> PgCluster:
        """A hot standby streaming from this (running) cluster (pg_basebackup -R)."""
        root = self._folder(root, "bizra-pg-replica-")
        replica = PgCluster(root, port or free_port())
        self._run(["pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "-D", str(replica.data), "-R", "-X", "stream", "--no-sync",
                   "--checkpoint=fast"])
        with open(replica.data / "postgresql.conf", "a") as f:
            f.write(f"port = {replica.port}\nunix_socket_directories = '{root}'\n")
        return replica

    @staticmethod
    def _folder(root: Path | None, prefix: str) -> Path:
        if root is None:
            root = Path(tempfile.mkdtemp(prefix=prefix))
        else:
            root.mkdir(parents=True, exist_ok=True)
        chown_to_postgres(root)
        return root

    def _run(self, argv: list[str]) -> None:
        cmd = [*as_postgres_user(), str(PG_BIN / argv[0]), *argv[1:]]
        done = subprocess.run(cmd, capture_output=True, timeout=120)
        if done.returncode:
            err = (done.stderr or done.stdout).decode(errors="replace").strip()[-800:]
            raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout,
                                                f"{argv[0]}: {err}".encode())

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

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        import asyncpg

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
