"""`bizra-node serve` with two workers on a new database: the schema is made
once, before the workers start, and no worker reports PostgreSQL as not usable."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.postgres import scratch_database


async def test_two_workers_on_a_new_database(devnet: Devnet, tmp_path: Path) -> None:
    async with scratch_database() as dsn:
        proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "DB_ENABLED": "true",
                                   "DATABASE_URL": dsn, "DATA_DIR": str(tmp_path),
                                   "LOG_LEVEL": "info"}, "--workers", "2")
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                ready = (await client.get(base + "/ready")).json()
        finally:
            assert stop_server(proc) == 0
        assert proc.stderr is not None
        log = proc.stderr.read().decode(errors="replace")
        assert "database: migrations 0001" in log
        assert "not usable" not in log and "DuplicateTable" not in log, log[-3000:]
        assert ready["data"]["checks"]["database"]["primary"] == "reachable"
