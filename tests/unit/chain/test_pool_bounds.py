"""The pool against upstreams that answer absurd numbers or enormous bodies (small
real HTTP upstreams): the answer is that upstream's failure, counted, never read into
a head or served; the next upstream answers."""

from __future__ import annotations

import asyncio
import gzip
import logging
from typing import Any

import orjson
import pytest
from aiohttp import web

from bizra_node.chain.bounds import BOUNDS
from bizra_node.errors import IntegrityFailure, UpstreamUnavailable
from bizra_node.jsonrpc import Call
from bizra_node.resilience import State
from tests.unit.chain.test_pool import ok, pool_for, result, upstreams

HUGE = "0x" + "f" * 400


async def huge(doc: Any, n: int) -> web.StreamResponse:
    return result(doc, lambda item: HUGE)


def big_body(size: int, *, chunked: bool = False) -> Any:
    async def answer(doc: Any, n: int) -> web.StreamResponse:
        body = orjson.dumps({"jsonrpc": "2.0", "id": doc["id"], "result": "0x" + "0" * size})
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        return _Streamed(body)
    return answer


class _Streamed(web.StreamResponse):
    """A chunked answer with no Content-Length (written by prepare)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(headers={"Content-Type": "application/json"})
        self.enable_chunked_encoding()
        self._payload = body

    async def prepare(self, request: web.BaseRequest) -> Any:
        writer = await super().prepare(request)
        try:
            for i in range(0, len(self._payload), 1 << 16):
                await self.write(self._payload[i:i + (1 << 16)])
            await self.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the node stopped reading: what we want
        return writer


async def test_an_out_of_range_block_number_goes_to_the_next_upstream() -> None:
    async with upstreams(huge, ok) as (bad, good), pool_for([bad.url, good.url]) as pool:
        assert await pool.batch([Call("eth_blockNumber")]) == ["0x1"]
        assert pool.metrics.upstream_integrity_failures.get((bad.url, BOUNDS)) == 1
        assert pool.health[0].breaker.state is State.OPEN
        assert pool.heads.heads == {good.url: 1}
        assert (bad.url,) not in pool.metrics.upstream_head.values


async def test_one_upstream_out_of_range_is_refused_never_served() -> None:
    async with upstreams(huge) as (bad,), pool_for([bad.url]) as pool:
        with pytest.raises(IntegrityFailure) as info:
            await pool.batch([Call("eth_blockNumber")])
        assert info.value.check == BOUNDS and info.value.upstream == bad.url
        assert pool.heads.heads == {}


async def test_head_polls_and_quorum_asks_are_checked_too() -> None:
    async with upstreams(huge, ok) as (bad, good), pool_for([bad.url, good.url]) as pool:
        await pool.prober.poll_heads()
        assert pool.heads.heads == {good.url: 1}
        assert pool.metrics.upstream_integrity_failures.get((bad.url, BOUNDS)) == 1
        pool.health[0].breaker.force(State.CLOSED)
        answers = await pool.ask_each([Call("eth_blockNumber")])
        assert answers == {bad.url: None, good.url: ["0x1"]}
        pool.health[0].breaker.force(State.CLOSED)
        status = await pool.ping()
        assert status[bad.url]["ok"] is False and "out of range" in status[bad.url]["error"]


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_past_the_size_limit_is_refused_while_read(
        chunked: bool, caplog: pytest.LogCaptureFixture) -> None:
    limit = 256 * 1024
    async with upstreams(big_body(4 * 1024 * 1024, chunked=chunked), ok) as (bad, good), \
            pool_for([bad.url, good.url], upstream_max_response_bytes=limit) as pool:
        with caplog.at_level(logging.WARNING, "bizra_node"):
            assert await pool.batch([Call("eth_chainId")]) == ["0x1"]
        assert pool.metrics.upstream_retries.get((bad.url, "too_large")) == 1
        assert pool.metrics.upstream_calls.get((bad.url, "eth_chainId", "too_large")) == 1
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("larger than UPSTREAM_MAX_RESPONSE_BYTES (262144 bytes)" in m
                   for m in warned), warned
        how = "announced" if not chunked else "cut off after"
        assert any(how in m for m in warned), warned


async def test_an_answer_within_the_limit_is_read_whole_chunked_or_not() -> None:
    limit = 256 * 1024
    async with upstreams(big_body(200 * 1024, chunked=True), big_body(200 * 1024)) as (a, b):
        for up in (a, b):
            async with pool_for([up.url], upstream_max_response_bytes=limit) as pool:
                (answer,) = await pool.batch([Call("eth_call")])
                assert len(answer) == 2 + 200 * 1024


async def test_only_oversize_upstreams_is_unavailable_not_a_crash() -> None:
    async with upstreams(big_body(1024 * 1024)) as (bad,), \
            pool_for([bad.url], upstream_max_response_bytes=64 * 1024) as pool:
        with pytest.raises(UpstreamUnavailable) as info:
            await asyncio.wait_for(pool.batch([Call("eth_chainId")]), 10)
        assert info.value.details["kind"] == "too_large"


async def test_a_compressed_answer_is_bounded_after_decompression() -> None:
    """A few KB of gzip that inflate to 4 MB: Content-Length is small, the body is not."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": 0, "result": "0x" + "0" * (4 * 1024 * 1024)})
    packed = gzip.compress(body)
    assert len(packed) < 64 * 1024

    async def bomb(doc: Any, n: int) -> web.StreamResponse:
        return web.Response(body=packed, headers={"Content-Type": "application/json",
                                                  "Content-Encoding": "gzip"})

    async with upstreams(bomb, ok) as (bad, good), \
            pool_for([bad.url, good.url], upstream_max_response_bytes=256 * 1024) as pool:
        assert await pool.batch([Call("eth_chainId")]) == ["0x1"]
        assert pool.metrics.upstream_retries.get((bad.url, "too_large")) == 1
