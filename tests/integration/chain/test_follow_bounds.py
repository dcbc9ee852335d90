"""An upstream WebSocket that pushes a head with an out-of-range number, or a message
past UPSTREAM_MAX_RESPONSE_BYTES: neither is delivered; the first is counted as an
integrity failure, the second ends that socket with a warning (and it reconnects)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from bizra_node.chain.bounds import BOUNDS
from tests.integration.chain.test_follow import following, until
from tests.support.servers import scripted_upstream, serving

HEADER = {"number": "0x10", "hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32,
          "gasLimit": "0x1c9c380", "gasUsed": "0x0", "timestamp": "0x6560a1b0"}


@asynccontextmanager
async def pushing(items: list[bytes]) -> AsyncIterator[tuple[str, list[int]]]:
    """A WebSocket upstream that takes eth_subscribe and pushes ``items`` (each a
    notification body, with the subscription id spliced in), then waits; yields its URL
    and the number of connections made."""
    connections: list[int] = []
    done = asyncio.Event()

    async def ws(request: web.Request) -> web.StreamResponse:
        sock = web.WebSocketResponse(max_msg_size=0)
        await sock.prepare(request)
        connections.append(1)
        msg = await sock.receive()
        doc = orjson.loads(msg.data)
        await sock.send_bytes(orjson.dumps({"jsonrpc": "2.0", "id": doc["id"], "result": "0x1"}))
        for item in items:
            await sock.send_bytes(item)
        await done.wait()
        return sock

    app = web.Application()
    app.router.add_get("/", ws)
    async with serving(app) as port:
        try:
            yield f"ws://127.0.0.1:{port}", connections
        finally:
            done.set()


def note(result: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                         "params": {"subscription": "0x1", "result": result}})


async def _http_ok(request: web.Request) -> web.StreamResponse:
    doc = orjson.loads(await request.read())
    return web.json_response({"jsonrpc": "2.0", "id": doc["id"], "result": None})


async def test_a_pushed_head_out_of_range_is_not_delivered(
        caplog: pytest.LogCaptureFixture) -> None:
    items = [note({**HEADER, "number": "0x" + "f" * 400}),
             note({**HEADER, "timestamp": "0x1" + "0" * 16}), note(HEADER)]
    async with scripted_upstream(_http_ok) as http, pushing(items) as (url, _), \
            following([http], head_follow_ws=url, head_follow_interval=0) as (follower, seen):
        with caplog.at_level(logging.WARNING, "bizra_node"):
            await until(lambda: follower.delivered == 1)
        assert seen == [HEADER]
        metrics = follower._pool.metrics
        assert metrics.upstream_integrity_failures.get((url, BOUNDS)) == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("pushed a head that fails bounds" in w for w in warned) == 2, warned


async def test_a_message_past_the_limit_ends_the_socket_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    limit = 64 * 1024
    items = [note({**HEADER, "extraData": "0x" + "00" * limit})]
    async with scripted_upstream(_http_ok) as http, pushing(items) as (url, connections):
        with caplog.at_level(logging.WARNING, "bizra_node"):
            async with following([http], head_follow_ws=url, head_follow_interval=0,
                                 upstream_max_response_bytes=limit) as (follower, _):
                await until(lambda: len(connections) >= 2)  # it reconnected
                assert follower.delivered == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"larger than UPSTREAM_MAX_RESPONSE_BYTES, {limit} bytes" in w
               for w in warned), warned
