"""Fixtures for store tests: a PostgreSQL cluster of the session's own (initdb on a
free port; the machine's server when clusters cannot be made here), a scratch
database per test, and settings for a node whose store is on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bizra_node.settings import Settings
from bizra_node.validation import TransactionResult, now_iso
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
                              "db_pool_max": 4, "db_pool_min": 2}
    values.update(overrides)
    return make_settings(upstream, **values)


def result(i: int) -> TransactionResult:
    return TransactionResult(valid=True, validated_at=now_iso(), network_id=31337,
                             error=None if i % 3 else "Transaction not found")


def subject(i: int) -> str:
    return "0x" + f"{i:064x}"


async def wait_for(predicate, timeout: float = 30.0, step: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
