"""The first start on a new database: two workers starting together both
reach PostgreSQL (schema work is done once, under the locks), and a start that fails
names the real cause in the log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bizra_node.app import store_config
from bizra_node.observability import NodeMetrics
from bizra_node.store import Store
from tests.integration.store.conftest import store_settings


@pytest.mark.parametrize("attempt", range(3))
async def test_two_workers_on_a_new_database(pg_dsn: str, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture,
                                             attempt: int) -> None:
    stores = [Store(store_config(store_settings(pg_dsn, tmp_path / f"w{i}")), NodeMetrics())
              for i in range(2)]
    with caplog.at_level(logging.WARNING, logger="bizra_node.store"):
        await asyncio.gather(*(s.start() for s in stores))
    try:
        assert all(s.primary is not None for s in stores), caplog.text
        assert "not reachable" not in caplog.text
    finally:
        for s in stores:
            await s.stop()


async def test_a_failed_start_names_its_cause(pg_dsn: str, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    missing = pg_dsn.rpartition("/")[0] + "/bizra_no_such_database"
    store = Store(store_config(store_settings(missing, tmp_path)), NodeMetrics())
    with caplog.at_level(logging.ERROR, logger="bizra_node.store"):
        await store.start()
    try:
        assert store.primary is None
        assert "InvalidCatalogNameError" in caplog.text
        assert "bizra_no_such_database" in caplog.text and "does not exist" in caplog.text
    finally:
        await store.stop()
