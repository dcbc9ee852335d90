"""Fixtures for store tests: a PostgreSQL cluster of the session's own (initdb on a
free port; the machine's server when clusters cannot be made here), a scratch
database per test, and settings for a node whose store is on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bizra_node.settings import Settings
from tests.conftest import make_settings
from tests.support.postgres import SHARED_DSN, PgCluster, can_run_clusters, scratch_database


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin DSN of a server tests may create databases on."""
    if can_run_clusters() is None:
        with PgCluster.running_cluster() as cluster:
            yield cluster.dsn()
    else:
        yield SHARED_DSN


@pytest.fixture
async def pg_dsn(pg_server: str) -> AsyncIterator[str]:
    async with scratch_database(pg_server) as dsn:
        yield dsn


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A cluster this test may stop and start."""
    reason = can_run_clusters()
    if reason is not None:
        pytest.skip(f"cannot make a PostgreSQL cluster here: {reason}")
    with PgCluster.running_cluster() as cluster:
        yield cluster


def store_settings(dsn: str, data_dir: Path, upstream: str = "http://127.0.0.1:9",
                   **overrides: Any) -> Settings:
    values: dict[str, Any] = {"db_enabled": True, "database_url": dsn,
                              "data_dir": str(data_dir), "write_batch_interval": 0.01,
                              "db_pool_max": 4, "db_pool_min": 2,
                              "db_monitor_interval": 3600.0}
    values.update(overrides)
    return make_settings(upstream, **values)
