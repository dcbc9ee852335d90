"""WebSocket connections give back what they held, seen from outside a
real `bizra-node serve` worker (both server interfaces): its file descriptors, its
server-side TCP connections (no CLOSE-WAIT left) and its resident memory, after clients
close cleanly (1000) and after they abort (TCP reset, no close frame).

Memory: 2 000 sockets take a worker from ~90 to ~245 MiB (each holds tungstenite's
128 KiB read buffer in granian); once they closed it held ~220 MiB for good, since
granian's jemalloc kept the freed pages until later allocations came (cli.py
GRANIAN_MALLOC_CONF); now it is back at ~100 MiB within a second.

Before the fix a connection's objects formed a reference cycle (the socket object and
its cancelled writer task, whose stored CancelledError held the task's frame), so the
granian transport, and with it the socket, lived until the cyclic garbage collector
happened to run: 200 clean closes left 200 sockets in CLOSE-WAIT for minutes."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.sockets import (
    CLOSE_WAIT,
    ESTABLISHED,
    connections,
    open_fds,
    rss_mib,
    wait_until,
    worker_of,
)

RELEASE_WITHIN = 10.0
"""Seconds a closed connection may take to be given back (it takes well under one;
room for a loaded machine)."""


@dataclass
class Served:
    ws_url: str
    port: int
    worker: int


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def served(request: pytest.FixtureRequest, devnet: Devnet) -> Iterator[Served]:
    """One node per interface for the module: each test measures from the worker's own
    state after its warm-up round and waits until its sockets are given back."""
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--interface", request.param)
    try:
        port = int(base.rsplit(":", 1)[1])
        yield Served(f"ws://127.0.0.1:{port}/rpc", port, worker_of(proc.pid).pid)
    finally:
        assert stop_server(proc) == 0


async def _open(url: str, subscribe: bool) -> ClientConnection:
    ws = await websockets.connect(url, ping_interval=None, max_queue=None)
    await ws.send(b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'.decode())
    assert orjson.loads(await ws.recv())["result"] == "0x7a69"
    if subscribe:
        await ws.send('{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}')
        assert orjson.loads(await ws.recv())["result"].startswith("0x")
    return ws


async def _open_many(url: str, count: int, parallel: int = 32) -> list[ClientConnection]:
    sem = asyncio.Semaphore(parallel)

    async def one(i: int) -> ClientConnection:
        async with sem:
            return await _open(url, subscribe=i % 2 == 0)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _abort(ws: ClientConnection) -> None:
    """Drop the connection with a TCP reset: no close frame, no FIN."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def _released(served: Served, fds_before: int) -> tuple[int, float]:
    def state() -> tuple[int, int, int]:
        return (open_fds(served.worker), connections(served.port, CLOSE_WAIT),
                connections(served.port, ESTABLISHED))

    (fds, _, _), took = await wait_until(
        state, lambda s: s[0] <= fds_before + 2 and s[1] == 0 and s[2] == 0, RELEASE_WITHIN)
    return fds, took


@pytest.mark.parametrize("how", ["clean", "abort"])
async def test_closed_connections_release_their_sockets(served: Served, how: str) -> None:
    warm = await _open(served.ws_url, subscribe=True)  # the worker's lazy parts exist
    await warm.close()
    await _released(served, open_fds(served.worker) + 10)
    fds_before = open_fds(served.worker)
    clients = await _open_many(served.ws_url, 200)
    assert open_fds(served.worker) >= fds_before + 200
    if how == "clean":
        await asyncio.gather(*(ws.close(1000) for ws in clients))
    else:
        for ws in clients:
            _abort(ws)
    fds, took = await _released(served, fds_before)
    print(f"{how}: 200 connections released in {took:.2f} s (fds {fds_before} -> {fds})")


async def test_memory_after_two_thousand_sockets_returns_near_its_baseline(
        served: Served) -> None:
    """The worker's steady state first (one round of 2 000: what Python keeps for good,
    its arenas and tables, ~50 MiB), then a second round must give back what it took."""
    await asyncio.gather(*(ws.close() for ws in await _open_many(served.ws_url, 2000)))
    await _released(served, open_fds(served.worker) + 10)
    fds_before = open_fds(served.worker)
    before = rss_mib(served.worker)
    clients = await _open_many(served.ws_url, 2000)
    peak = rss_mib(served.worker)
    await asyncio.gather(*(ws.close() for ws in clients))
    del clients
    await _released(served, fds_before)
    after, took = await wait_until(lambda: rss_mib(served.worker),
                                   lambda rss: rss <= before + 0.2 * (peak - before) + 10,
                                   RELEASE_WITHIN)
    print(f"RSS {before:.0f} MiB, {peak:.0f} MiB with 2 000 sockets open, {after:.0f} MiB "
          f"{took:.1f} s after they closed")
