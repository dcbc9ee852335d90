"""The head follower against real anvils: by subscription, by polling, every head in
order, and through an upstream that goes away and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bizra_node.app import follow_config, upstream_config
from bizra_node.chain import FollowConfig, HeadFollower, UpstreamPool, WsTarget, ws_url
from bizra_node.devnet import Anvil, free_port, rpc
from bizra_node.observability import NodeMetrics
from tests.conftest import FOLLOW_HEADS, make_settings


@asynccontextmanager
async def following(urls: list[str], **overrides: Any) -> AsyncIterator[
        tuple[HeadFollower, list[dict[str, Any]]]]:
    settings = make_settings(",".join(urls), **{**FOLLOW_HEADS, "head_poll_interval": 0,
                                                **overrides})
    pool = UpstreamPool(upstream_config(settings), NodeMetrics())
    await pool.start()
    follower = HeadFollower(pool, follow_config(settings))
    seen: list[dict[str, Any]] = []
    follower.add_listener(seen.append)
    follower.start()
    try:
        await follower.settled()
        yield follower, seen
    finally:
        await follower.stop()
        await pool.close()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def numbers(headers: list[dict[str, Any]]) -> list[int]:
    return [int(h["number"], 16) for h in headers]


def test_ws_urls_follow_the_http_ones() -> None:
    assert ws_url("http://127.0.0.1:8545") == "ws://127.0.0.1:8545"
    assert ws_url("https://node.example/v3/key?x=1") == "wss://node.example/v3/key?x=1"
    auto = follow_config(make_settings("http://a:1,https://b/x", head_follow_ws="auto"))
    assert auto.ws == (WsTarget("ws://a:1", "http://a:1"), WsTarget("wss://b/x", "https://b/x"))
    assert follow_config(make_settings("http://a:1", head_follow_ws="off")).ws == ()
    given = follow_config(make_settings("http://a:1", head_follow_ws="wss://c/ws"))
    assert given.ws == (WsTarget("wss://c/ws"),)


async def test_every_head_by_subscription() -> None:
    with Anvil() as anvil:
        async with following([anvil.url], head_follow_interval=60) as (follower, seen):
            assert follower.mode == "subscription"
            start = follower.last_number
            for _ in range(5):
                rpc(anvil.url, "anvil_mine", ["0x1"])
            await until(lambda: follower.last_number == start + 5)
    assert numbers(seen)[-5:] == [start + 1 + i for i in range(5)]
    for parent, child in zip(seen[-6:], seen[-5:], strict=False):
        assert child["parentHash"] == parent["hash"]


async def test_every_head_by_polling_even_when_several_are_mined_at_once() -> None:
    with Anvil() as anvil:
        async with following([anvil.url], head_follow_ws="off",
                             head_follow_interval=0.05) as (follower, seen):
            assert follower.mode == "poll"
            start = follower.last_number
            rpc(anvil.url, "anvil_mine", ["0x5"])  # between two polls: the gap is filled
            await until(lambda: follower.last_number == start + 5)
            await asyncio.sleep(0.2)  # later polls deliver nothing twice
    assert numbers(seen) == list(range(start, start + 6))


async def test_no_websocket_falls_back_to_polling() -> None:
    with Anvil() as anvil:
        dead = f"ws://127.0.0.1:{free_port()}"
        async with following([anvil.url], head_follow_ws=dead,
                             head_follow_interval=0.05) as (follower, seen):
            assert follower.mode == "poll"
            start = follower.last_number
            rpc(anvil.url, "anvil_mine", ["0x2"])
            await until(lambda: follower.last_number == start + 2)
    assert numbers(seen)[-2:] == [start + 1, start + 2]


async def test_an_upstream_that_goes_away_and_comes_back() -> None:
    """anvil stops (the socket drops: polling takes over, and fails until it is back),
    then starts again on the same port, as a new chain: the follower subscribes again
    and delivers the new chain's heads (blocks identical to ones already delivered --
    anvil is deterministic within a second -- are not delivered twice)."""
    port = free_port()
    anvil = Anvil(port).start()
    try:
        async with following([anvil.url], head_follow_interval=0.05) as (follower, seen):
            rpc(anvil.url, "anvil_mine", ["0x3"])
            await until(lambda: follower.last_number == 3)
            anvil.stop()
            await until(lambda: follower.mode == "poll")
            anvil = Anvil(port).start()
            await until(lambda: follower.mode == "subscription", timeout=15)
            rpc(anvil.url, "anvil_mine", ["0x5"])
            await until(lambda: follower.last_number == 5)
    finally:
        anvil.stop()
    assert numbers(seen)[:4] == [0, 1, 2, 3]
    assert numbers(seen)[-2:] == [4, 5]
    assert len({h["hash"] for h in seen}) == len(seen)


@asynccontextmanager
async def forwarding(port: int, target_port: int) -> AsyncIterator[None]:
    """A TCP forwarder on ``port`` to ``target_port`` (a WebSocket that opens late)."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_a_head_replaced_before_the_subscription_is_made_is_delivered() -> None:
    """The head is replaced at the same height (a one-block reorg) after the last poll
    and before the subscription is made: no notification carries it, so the follower
    polls once when it subscribes (polling is 60 s away here)."""
    with Anvil() as anvil:
        rpc(anvil.url, "anvil_mine", ["0x3"])
        port = free_port()
        async with following([anvil.url], head_follow_ws=f"ws://127.0.0.1:{port}",
                             head_follow_interval=60) as (follower, seen):
            assert follower.mode == "poll" and follower.last is not None
            replaced = follower.last["hash"]
            rpc(anvil.url, "anvil_reorg", [1, []])
            async with forwarding(port, anvil.port):
                await until(lambda: follower.mode == "subscription", timeout=20)
                await until(lambda: follower.last is not None
                            and follower.last["hash"] != replaced)
        assert numbers(seen)[-2:] == [3, 3]


async def test_a_listener_that_fails_does_not_stop_the_others() -> None:
    with Anvil() as anvil:
        async with following([anvil.url]) as (follower, seen):
            def broken(header: dict[str, Any]) -> None:
                raise RuntimeError("a bug")

            follower._listeners.insert(0, broken)
            start = follower.last_number
            rpc(anvil.url, "anvil_mine", ["0x1"])
            await until(lambda: follower.last_number == start + 1)
    assert numbers(seen)[-1] == start + 1


def test_the_config_is_checked() -> None:
    import pytest

    with pytest.raises(ValueError):
        FollowConfig(interval=-1)
    with pytest.raises(ValueError):
        FollowConfig(timeout=0)
