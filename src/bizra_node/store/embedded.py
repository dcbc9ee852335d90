"""Embedded PostgreSQL (the `pgserver` package) for when no DATABASE_URL is given.

The server's files live in ``DATA_DIR/pg`` and it listens on a Unix socket there only.
As root, pgserver runs PostgreSQL as a system user of its own (``pgserver``, created
if missing), since PostgreSQL refuses to run as root. Several processes (granian
workers) may ask for it: pgserver keeps one server per folder and stops it when the
last process holding it exits.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger("bizra_node.store")


class EmbeddedPostgres:
    def __init__(self, data_dir: str | Path, database: str = "bizra_node") -> None:
        self.folder = Path(data_dir).resolve() / "pg"
        self.database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; returns a DSN for ``database`` (blocking)."""
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime folder at import; without
            # XDG_RUNTIME_DIR (containers, ssh sessions) platformdirs warns and falls back
            # to /tmp/runtime-<uid>, which serves: the warning told every command's user
            # nothing they could act on.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
            from pgserver import get_server  # type: ignore[attr-defined]

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.folder, cleanup_mode="stop")
        if not self._exists():
            try:
                self._server.psql(f'CREATE DATABASE "{self.database}";')
            except subprocess.CalledProcessError:
                if not self._exists():  # not a race with another worker: a real failure
                    raise
        dsn: str = self._server.get_uri(self.database)
        log.info("embedded PostgreSQL ready", extra={"folder": str(self.folder)})
        return dsn

    def _exists(self) -> bool:
        out: str = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        return "(1 row)" in out

    def stop(self) -> None:
        """Let go of the server (it stops when no process holds it any more)."""
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()
