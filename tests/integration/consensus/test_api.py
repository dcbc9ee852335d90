"""The beacon API client over real HTTP: whole answers however they arrive, bounded
size, HTTP errors with the server's message, non-JSON, and the 128-period limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bizra_node.consensus import BeaconApi, BeaconApiError, Check, ConsensusError, network
from tests.support.beacon import BeaconServer, RecordedBeacon

CHECKPOINT = bytes.fromhex("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275")
MAINNET = network("mainnet")


@pytest.fixture
async def server() -> AsyncIterator[BeaconServer]:
    data = RecordedBeacon()
    data.checkpoint = "0x" + CHECKPOINT.hex()
    beacon = BeaconServer(data)
    await beacon.start()
    try:
        yield beacon
    finally:
        await beacon.stop()


async def test_a_page_of_updates_arrives_whole(server: BeaconServer) -> None:
    """~420 kB of JSON arrives in many chunks: all of it is read (read(n) alone
    returned the first chunk, and the answer was 'not JSON')."""
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        updates = await api.updates(MAINNET, 862, 6)
        assert [MAINNET.period_at_slot(u.attested_header.beacon.slot) for u in updates] == \
            list(range(862, 868))
        assert (await api.bootstrap(MAINNET, CHECKPOINT)).header.beacon.slot == 7069376


async def test_an_answer_past_the_size_limit_is_refused(server: BeaconServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session, max_bytes=100_000)
        with pytest.raises(BeaconApiError, match="answer larger than 100000 bytes"):
            await api.updates(MAINNET, 862, 6)
        assert (await api.finality_update(MAINNET)).signature_slot == 7109431


async def test_http_errors_carry_the_servers_message(server: BeaconServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        with pytest.raises(BeaconApiError, match="HTTP 404: no bootstrap") as failed:
            await api.bootstrap(MAINNET, bytes(32))
        assert failed.value.status == 404


async def test_more_than_128_periods_are_never_asked(server: BeaconServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        with pytest.raises(ValueError):
            await api.updates(MAINNET, 862, 129)
        assert server.pages == []


async def test_an_answer_that_is_not_json_is_an_api_error(server: BeaconServer) -> None:
    server.tamper["finality_update"] = lambda body: b"not json {"
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        with pytest.raises(BeaconApiError, match="the answer is not JSON"):
            await api.finality_update(MAINNET)


async def test_json_of_the_wrong_shape_is_malformed_data(server: BeaconServer) -> None:
    server.tamper["finality_update"] = lambda body: "a string"
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        with pytest.raises(ConsensusError) as refused:
            await api.finality_update(MAINNET)
        assert refused.value.check == Check.MALFORMED


async def test_genesis_and_config_answers(server: BeaconServer) -> None:
    async with aiohttp.ClientSession() as session:
        api = BeaconApi(server.url, session)
        assert await api.genesis() == (1606824023, MAINNET.genesis_validators_root)
        assert (await api.spec())["PRESET_BASE"] == "mainnet"
        server.tamper["genesis"] = lambda body: {"data": {"genesis_time": "soon",
                                                          "genesis_validators_root": "0x00"}}
        with pytest.raises(BeaconApiError, match="genesis answer is malformed"):
            await api.genesis()
        server.tamper["spec"] = lambda body: {"data": ["PRESET_BASE"]}
        with pytest.raises(BeaconApiError, match="config answer is malformed"):
            await api.spec()
