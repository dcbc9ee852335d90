"""A cluster of identical anvil upstreams, each behind a fault proxy (bizra_bench, in bench/)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bizra_bench.cluster import Cluster, start_cluster


@pytest.fixture
async def cluster3() -> AsyncIterator[Cluster]:
    c = await start_cluster(3)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def cluster2() -> AsyncIterator[Cluster]:
    c = await start_cluster(2)
    try:
        yield c
    finally:
        await c.close()
