"""BeaconSource, the anchor's source, over real HTTP on recorded mainnet data: one
honest beacon API among liars and dead ones is enough; every refusal is counted by its
check and reported; nothing unverified is ever reported; start and stop are clean."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bizra_node.consensus import (
    BeaconSource,
    BeaconSourceConfig,
    Check,
    ConsensusError,
    ExecutionHead,
    network,
)
from bizra_node.devnet import free_port
from tests.support.beacon import BeaconServer, RecordedBeacon

CHECKPOINT = bytes.fromhex("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275")
NOW_SLOT = 7109432
FINALIZED = (7109344, 17923026,
             bytes.fromhex("bc8499537876e5406c7a65e25f99063f1cd85a17014a3aa5ade38271b1fbf64f"))


async def _server(tamper: dict[str, Callable[[Any], Any]] | None = None) -> BeaconServer:
    data = RecordedBeacon()
    data.checkpoint = "0x" + CHECKPOINT.hex()
    server = BeaconServer(data)
    server.tamper.update(tamper or {})
    await server.start()
    return server


def _forge_signature(body: Any) -> Any:
    sig = body["data"]["sync_aggregate"]["sync_committee_signature"]
    body["data"]["sync_aggregate"]["sync_committee_signature"] = sig[:-2] + (
        "00" if sig[-2:] != "00" else "01")
    return body


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, BeaconServer]]:
    made = {"honest": await _server(), "liar": await _server({"finality_update": _forge_signature})}
    try:
        yield made
    finally:
        for server in made.values():
            await server.stop()


def _source(*urls: str, **kw: Any) -> BeaconSource:
    config = BeaconSourceConfig(urls=urls, checkpoint=CHECKPOINT, network=network("mainnet"),
                                interval=kw.pop("interval", 3600), timeout=5)
    return BeaconSource(config, clock=lambda: NOW_SLOT, **kw)


async def _until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_one_honest_api_among_liars_is_enough(servers: dict[str, BeaconServer]) -> None:
    refused: list[tuple[str, ConsensusError]] = []
    changed: list[tuple[ExecutionHead | None, ExecutionHead | None]] = []
    source = _source(servers["liar"].url, servers["honest"].url,
                     on_refused=lambda url, exc: refused.append((url, exc)),
                     on_changed=lambda fin, opt: changed.append((fin, opt)))
    assert (source.finalized, source.optimistic, source.synced) == (None, None, False)
    await source.start()
    try:
        assert await source.wait_synced(60)
        finalized, optimistic = source.finalized, source.optimistic
        assert finalized is not None and optimistic is not None
        assert (finalized.slot, finalized.number, finalized.block_hash) == FINALIZED
        assert (optimistic.slot, optimistic.number) == (7109431, 17923113)
        assert source.refusals == {Check.SIGNATURE: 1}
        assert [(url, exc.check) for url, exc in refused] == [(servers["liar"].url,
                                                               Check.SIGNATURE)]
        assert changed == [(finalized, optimistic)]
        status = source.status()
        assert status["synced"] is True and status["refusals"] == {"signature": 1}
        assert status["finalized"] == finalized.to_json()
    finally:
        await source.stop()


async def test_the_next_round_starts_from_the_api_that_served(
        servers: dict[str, BeaconServer]) -> None:
    source = _source(servers["liar"].url, servers["honest"].url)
    await source.start()
    try:
        assert await source.wait_synced(60)
        asked = servers["liar"].requests["finality_update"]
        assert await source.refresh()
        assert servers["liar"].requests["finality_update"] == asked
        assert source.refusals == {Check.SIGNATURE: 1}
    finally:
        await source.stop()


async def test_liars_alone_never_make_it_report_anything(
        servers: dict[str, BeaconServer]) -> None:
    source = _source(servers["liar"].url, servers["liar"].url)
    await source.start()
    try:
        await _until(lambda: source.refusals[Check.SIGNATURE] >= 2)
        assert not await source.refresh()
        assert (source.synced, source.finalized, source.optimistic) == (False, None, None)
    finally:
        await source.stop()


async def test_a_dead_api_is_counted_and_passed_over(servers: dict[str, BeaconServer]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    source = _source(dead, servers["honest"].url)
    await source.start()
    try:
        assert await source.wait_synced(60)
        assert source.unavailable == {dead: 1}
        assert source.finalized is not None
    finally:
        await source.stop()


async def test_it_refreshes_in_the_background(servers: dict[str, BeaconServer]) -> None:
    source = _source(servers["honest"].url, interval=0.2)
    await source.start()
    try:
        await _until(lambda: servers["honest"].requests["optimistic_update"] >= 3)
    finally:
        await source.stop()
    asked = servers["honest"].requests["optimistic_update"]
    await asyncio.sleep(0.5)
    assert servers["honest"].requests["optimistic_update"] == asked  # stopped means stopped


async def test_a_session_given_is_left_open(servers: dict[str, BeaconServer]) -> None:
    async with aiohttp.ClientSession() as session:
        source = _source(servers["honest"].url, session=session)
        await source.start()
        assert await source.wait_synced(60)
        await source.stop()
        assert not session.closed


async def test_wait_synced_gives_up_after_its_timeout() -> None:
    source = _source(f"http://127.0.0.1:{free_port()}")
    await source.start()
    try:
        assert not await source.wait_synced(0.3)
    finally:
        await source.stop()


def test_the_config_is_checked() -> None:
    mainnet = network("mainnet")
    with pytest.raises(ValueError, match="URL"):
        BeaconSourceConfig(urls=(), checkpoint=CHECKPOINT, network=mainnet)
    with pytest.raises(ValueError, match="32-byte"):
        BeaconSourceConfig(urls=("http://x",), checkpoint=b"\x01", network=mainnet)
    with pytest.raises(ValueError, match="timeout"):
        BeaconSourceConfig(urls=("http://x",), checkpoint=CHECKPOINT, network=mainnet,
                           timeout=0)
    assert BeaconSourceConfig(urls=("http://x",), checkpoint=CHECKPOINT,
                              network=mainnet).period == 12


async def test_an_old_checkpoint_is_warned_about_once(servers: dict[str, BeaconServer],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    later = NOW_SLOT + 300 * 8192
    config = BeaconSourceConfig(urls=(servers["honest"].url,), checkpoint=CHECKPOINT,
                                network=network("mainnet"), interval=3600)
    source = BeaconSource(config, clock=lambda: later)
    with caplog.at_level("WARNING", logger="bizra_node.consensus"):
        await source.start()
        try:
            assert await source.wait_synced(60)
            assert await source.refresh()
        finally:
            await source.stop()
    warnings = [r.getMessage() for r in caplog.records if "days old" in r.getMessage()]
    assert warnings == ["beacon light client: the checkpoint is 347 days old, older than the "
                        "14-day weak-subjectivity rule: pick a recent one (docs/trust.md)"]


def _stale_optimistic(body: Any) -> Any:
    """The finality update's attested header as the optimistic update: valid, signed,
    one slot older than the recorded optimistic update (7109430 against 7109431)."""
    finality = RecordedBeacon().finality_update()["data"]
    return {"version": "capella", "data": {k: finality[k] for k in (
        "attested_header", "sync_aggregate", "signature_slot")}}


async def test_a_withholding_api_cannot_hold_the_head_back(
        servers: dict[str, BeaconServer]) -> None:
    """The first API serves valid but old data: the round goes on to the next one, whose
    newer head the store takes; the first is counted as stale, not as a liar."""
    withholding = await _server({"optimistic_update": _stale_optimistic})
    try:
        config = BeaconSourceConfig(urls=(withholding.url, servers["honest"].url),
                                    checkpoint=CHECKPOINT, network=network("mainnet"),
                                    interval=3600, stale_after=10)
        source = BeaconSource(config, clock=lambda: 7109431 + 10)
        await source.start()
        try:
            assert await source.wait_synced(60)
            await _until(lambda: source.optimistic is not None
                         and source.optimistic.slot == 7109431)
            assert source.stale == {withholding.url: 1}
            assert source.refusals == {}
            assert await source.refresh()  # the fresh API is asked first from now on
            assert withholding.requests["optimistic_update"] == 1
        finally:
            await source.stop()
    finally:
        await withholding.stop()
