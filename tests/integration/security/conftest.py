"""Fixtures for the security tests: a redis-server of the test's own (to stop and
start), and a scratch PostgreSQL database on the machine's server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.postgres import SHARED_DSN, scratch_database
from tests.support.redis_server import RedisServer

SECRET = "test-secret-" + "s" * 32


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def prefix() -> str:
    return f"bizra-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async with scratch_database(SHARED_DSN) as dsn:
        yield dsn
