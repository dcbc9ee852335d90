"""Two chain views on one heads file act as two workers of one node: a head or a
finalized block one has taken is the least the other reports, unless it contradicts
what the other holds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bizra_node.app import cache_config
from bizra_node.cache import TieredCache
from bizra_node.observability import NodeMetrics
from bizra_node.validation import (
    ChainView,
    ChainViewConfig,
    SharedHeads,
    create_heads_file,
    remove_heads_file,
)
from tests.conftest import make_settings

NETWORK = 31337


class _NoUpstream:
    async def batch(self, calls: list[Any]) -> list[Any]:
        pytest.fail("no upstream call expected")


def _view(heads: SharedHeads | None, head_ttl: float = 60) -> ChainView:
    cache = TieredCache(cache_config(make_settings("http://127.0.0.1:9")), NodeMetrics())
    config = ChainViewConfig(head_ttl=head_ttl, finality_depth=10, refresh_ahead=0)
    return ChainView(_NoUpstream(), config, cache, heads)  # type: ignore[arg-type]




@pytest.fixture
def workers() -> Iterator[tuple[ChainView, ChainView]]:
    path, made = create_heads_file("", NETWORK)
    a, b = SharedHeads.open(path, NETWORK), SharedHeads.open(path, NETWORK)
    try:
        yield _view(a), _view(b)
    finally:
        a.close()
        b.close()
        remove_heads_file(path, made)


def _block(number: int, fill: str) -> dict[str, str]:
    return {"number": hex(number), "hash": "0x" + fill * 32}


async def test_a_head_one_worker_took_is_the_least_the_other_serves(
        workers: tuple[ChainView, ChainView]) -> None:
    a, b = workers
    b.observe_head(90)
    assert b.fresh_head() == 90
    a.observe_block(100)  # a receipt in block 100, answered by worker a
    assert b.fresh_head() == 100  # read from the file: no upstream call
    assert await b.head() == 100
    b.observe_head(95)  # an older answer on b changes nothing
    assert a.fresh_head() == 100 and b.fresh_head() == 100


async def test_a_stale_head_is_made_fresh_by_the_others_newer_one() -> None:
    path, made = create_heads_file("", NETWORK)
    heads_a, heads_b = SharedHeads.open(path, NETWORK), SharedHeads.open(path, NETWORK)
    try:
        a, b = _view(heads_a), _view(heads_b, head_ttl=0.05)
        b.observe_head(10)
        async with asyncio.timeout(5):
            while b.fresh_head() is not None:  # until b's own head is over its TTL
                await asyncio.sleep(0.01)
        a.observe_head(11)
        assert b.fresh_head() == 11  # and a newer one from a is fresh: no upstream call
        assert await b.head() == 11
    finally:
        heads_a.close()
        heads_b.close()
        remove_heads_file(path, made)


def test_without_a_heads_file_each_worker_is_on_its_own() -> None:
    a, b = _view(None), _view(None)
    a.observe_head(100)
    b.observe_head(90)
    assert b.fresh_head() == 90 and b.known_finalized() == -1


def test_finality_one_worker_has_shown_is_taken_by_the_other(
        workers: tuple[ChainView, ChainView]) -> None:
    a, b = workers
    assert b.known_finalized() == -1
    assert a.finalized_at(100, [_block(0x50, "aa")]) == 0x50
    assert b.known_finalized() == 0x50
    assert b.finalized_at(100, [_block(0x40, "bb")]) == 0x50  # b's own lagging answer


def test_a_finalized_block_that_contradicts_the_others_chain_is_not_taken(
        workers: tuple[ChainView, ChainView], caplog: pytest.LogCaptureFixture) -> None:
    a, b = workers
    a.finalized_at(100, [_block(0x50, "aa")])
    assert b.known_finalized() == 0x50
    b.canonical.add(0x60, b"\xbb" * 32, b"\x00" * 32)  # b holds another block 0x60
    with caplog.at_level(logging.CRITICAL, "bizra_node.validation"):
        a.finalized_at(110, [_block(0x60, "cc")])
        assert b.known_finalized() == 0x50
        assert b.known_finalized() == 0x50  # examined once: said once
    assert [r.getMessage() for r in caplog.records].count(
        "another worker's finalized block 96 is 0x" + "cc" * 32 + ", this worker holds 0x"
        + "bb" * 32 + ": not taken (a reorg below finality, or a lying upstream)") == 1
    a.finalized_at(120, [_block(0x70, "dd")])  # a later one that agrees: taken
    assert b.known_finalized() == 0x70


def test_after_finality_was_broken_what_was_shared_before_is_not_taken_again(
        workers: tuple[ChainView, ChainView]) -> None:
    a, b = workers
    a.finalized_at(100, [_block(0x50, "aa")])
    assert b.known_finalized() == 0x50
    b.forget_finality(0x40)  # a block at or below 0x50 was replaced
    assert b.known_finalized() == 0x40
    a.finalized_at(120, [_block(0x70, "dd")])  # finality established anew, later
    assert b.known_finalized() == 0x70
