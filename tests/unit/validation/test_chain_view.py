"""ChainView: the one home of the head and finality rules (never backwards, fresh
for head_ttl, finality from the tag or the depth)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from bizra_node.app import cache_config, upstream_config
from bizra_node.cache import TieredCache
from bizra_node.chain import UpstreamPool
from bizra_node.jsonrpc import RpcError
from bizra_node.observability import NodeMetrics
from bizra_node.validation import ChainView, ChainViewConfig
from tests.conftest import make_settings
from tests.support.servers import scripted_upstream


def answering(heads: Iterator[str]) -> Any:
    async def answer(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        items = doc if isinstance(doc, list) else [doc]
        out = [{"jsonrpc": "2.0", "id": i["id"], "result": next(heads)} for i in items]
        return web.Response(body=orjson.dumps(out if isinstance(doc, list) else out[0]),
                            content_type="application/json")
    return answer


@asynccontextmanager
async def view_over(heads: list[str], cache: bool = False) -> AsyncIterator[
        tuple[ChainView, UpstreamPool]]:
    async with scripted_upstream(answering(iter(heads))) as url:
        settings = make_settings(url, head_poll_interval=0)
        pool = UpstreamPool(upstream_config(settings), NodeMetrics())
        await pool.start()
        tiered = TieredCache(cache_config(settings), NodeMetrics()) if cache else None
        try:
            yield ChainView(pool, ChainViewConfig(), tiered), pool
        finally:
            await pool.close()


async def test_reported_head_never_goes_backwards() -> None:
    async with view_over(["0x10", "0x8", "0x11"]) as (view, pool):
        seen = [hex(await view.block_number()) for _ in range(3)]
    assert seen == ["0x10", "0x10", "0x11"]
    assert pool.metrics.upstream_head.get((pool.upstreams[0].name,)) == 0x11


def test_observed_heads_never_go_backwards_and_stay_fresh_for_the_ttl() -> None:
    view = ChainView(_NoUpstream(), ChainViewConfig(head_ttl=60))
    assert view.observe_head(100) == 100
    assert view.observe_head(98) == 100
    assert view.observe_head(101) == 101
    assert view.fresh_head() is None  # without a cache, nothing is served from memory


async def test_a_head_seen_on_the_way_is_served_fresh() -> None:
    async with view_over(["0x20"], cache=True) as (view, _):
        assert view.fresh_head() is None
        view.observe_head(0x30)
        assert view.fresh_head() == 0x30
        assert await view.head() == 0x30  # no upstream call: the one answer is unused


def test_finality_from_the_tag_or_the_depth_and_never_backwards() -> None:
    view = ChainView(_NoUpstream(), ChainViewConfig(finality_depth=10))
    assert view.finalized_at(100, [{"number": "0x50"}]) == 0x50
    assert view.finalized_at(100, [{"number": "0x40"}]) == 0x50  # a lagging upstream
    assert view.finality_calls()  # the tag is asked for while upstreams know it
    assert view.finalized_at(200, [RpcError(-32602, "unknown tag")]) == 190
    assert view.finality_calls() == []  # and not any more once one did not
    assert view.finalized_at(210, []) == 200


class _NoUpstream:
    async def batch(self, calls: list[Any]) -> list[Any]:
        pytest.fail("no upstream call expected")


class _Votes:
    """The pool's head quorum, as the head rule reads it."""

    def __init__(self, vouched: int | None, quorum: int = 2) -> None:
        self.vouched = vouched
        self.quorum = quorum
        self.polls = 0

    def vouched_head(self) -> int | None:
        return self.vouched

    @property
    def head_quorum(self) -> int:
        return self.quorum

    async def poll_heads(self) -> None:
        self.polls += 1


class _Claim:
    slot = 7
    number = 130
    block_hash = b"\x01" * 32


class _Consensus:
    finalized = None
    optimistic = _Claim()


async def test_the_head_moves_only_to_what_a_quorum_or_the_sync_committee_vouches_for() -> None:
    votes = _Votes(100)
    view = ChainView(_NoUpstream(), ChainViewConfig(), votes=votes)
    assert view.observe_head(100) == 100
    assert view.observe_head(1100) == 100  # one upstream far ahead: capped
    assert view.observe_head(99) == 100  # never backwards
    votes.vouched = 102  # the others reached 102
    view.observe_block(1100)  # a block number in an answer: at most the vouched head
    assert view.best_head == 102
    await asyncio.sleep(0.01)  # the background recheck of the heads ran once
    assert votes.polls == 1 and view.best_head == 102
    claimed = ChainView(_NoUpstream(), ChainViewConfig(), consensus=_Consensus(),
                        votes=_Votes(100))
    assert claimed.observe_head(1100) == 130  # up to the sync committee's optimistic block
    alone = ChainView(_NoUpstream(), ChainViewConfig(), votes=_Votes(100, quorum=1))
    assert alone.observe_head(1100) == 1100  # one upstream in service is its own quorum


@asynccontextmanager
async def going_down(state: dict[str, Any]) -> AsyncIterator[tuple[Any, UpstreamPool]]:
    """An upstream answering every call with ``state['head']``, or HTTP 503 while
    ``state['down']``; one attempt per call."""
    async def answer(request: web.Request) -> web.Response:
        if state.get("slow"):
            await asyncio.sleep(state["slow"])
        if state["down"]:
            return web.Response(status=503, text="overloaded")
        doc = orjson.loads(await request.read())
        items = doc if isinstance(doc, list) else [doc]
        out = [{"jsonrpc": "2.0", "id": i["id"], "result": state["head"]} for i in items]
        return web.Response(body=orjson.dumps(out if isinstance(doc, list) else out[0]),
                            content_type="application/json")

    async with scripted_upstream(answer) as url:
        settings = make_settings(url, head_poll_interval=0, retry_attempts=1)
        pool = UpstreamPool(upstream_config(settings), NodeMetrics())
        await pool.start()
        try:
            yield settings, pool
        finally:
            await pool.close()


async def test_while_no_upstream_answers_hits_are_served_with_the_last_head_for_a_while() -> None:
    """An upstream that stops answering (an overload, a breaker open) does not turn every
    cached answer into a 503: the last head serves them for ``stale_if_error`` s past
    its TTL, a retry at a time, and a fresh head is taken as soon as one answers."""
    state: dict[str, Any] = {"down": False, "head": "0x10"}
    async with going_down(state) as (settings, pool):
        view = ChainView(pool, ChainViewConfig(head_ttl=0.2, stale_if_error=0.8),
                         TieredCache(cache_config(settings), NodeMetrics()))
        try:
            assert await view.head() == 0x10
            assert view.serving_head() == 0x10  # fresh
            state["down"] = True
            await asyncio.sleep(0.25)
            assert view.serving_head() is None  # expired, and nobody has failed to ask yet
            with pytest.raises(Exception, match=r"(?i)upstream"):
                await view.head()
            assert view.serving_head() == 0x10  # the last head, while no upstream answers
            await asyncio.sleep(0.9)  # past stale_if_error: ask again (and fail)
            assert view.serving_head() is None
            state.update(down=False, head="0x11")
            assert await view.head() == 0x11
        finally:
            await view.close()


async def test_a_stale_head_is_left_as_soon_as_an_upstream_answers_again() -> None:
    state: dict[str, Any] = {"down": False, "head": "0x10"}
    async with going_down(state) as (settings, pool):
        view = ChainView(pool, ChainViewConfig(head_ttl=0.2, stale_if_error=30),
                         TieredCache(cache_config(settings), NodeMetrics()))
        try:
            assert await view.head() == 0x10
            state["down"] = True
            await asyncio.sleep(0.25)
            with pytest.raises(Exception, match=r"(?i)upstream"):
                await view.head()
            state.update(down=False, head="0x11")
            assert view.serving_head() == 0x10  # served at once; one retry started
            for _ in range(50):
                await asyncio.sleep(0.02)
                if view.fresh_head() is not None:
                    break
            assert view.serving_head() == 0x11  # the retry brought a fresh head
        finally:
            await view.close()


async def test_while_the_refresh_started_ahead_is_slow_hits_do_not_wait_for_it() -> None:
    state: dict[str, Any] = {"down": False, "head": "0x10"}
    async with going_down(state) as (settings, pool):
        view = ChainView(pool, ChainViewConfig(head_ttl=0.3, refresh_ahead=0.5,
                                               stale_if_error=30),
                         TieredCache(cache_config(settings), NodeMetrics()))
        try:
            assert await view.head() == 0x10
            state.update(slow=0.5, head="0x11")
            await asyncio.sleep(0.2)
            assert view.serving_head() == 0x10  # in its last half: a refresh starts
            await asyncio.sleep(0.15)
            assert view.fresh_head() is None  # expired, the refresh still out
            assert view.serving_head() == 0x10  # served, not waited for
            await asyncio.sleep(0.5)
            assert view.serving_head() == 0x11  # the refresh came back
        finally:
            await view.close()
