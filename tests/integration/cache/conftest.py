"""Redis for cache tests: a redis-server of the test's own (free port, may be killed),
or the machine's shared Redis under a unique key prefix that is removed afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from tests.support.redis_server import SHARED_REDIS, RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def shared_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the machine's Redis; its keys are deleted after."""
    prefix = f"bizra-test-{os.getpid()}-{os.urandom(4).hex()}"
    yield prefix
    client = aioredis.Redis.from_url(SHARED_REDIS)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
