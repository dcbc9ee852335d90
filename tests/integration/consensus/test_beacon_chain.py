"""The light client against a beacon chain built by the consensus spec's own code
(tests/support/beacon_chain.py: minimal preset, Electra, the spec's test keys), served
over real HTTP: it reports exactly the execution blocks the chain was given, follows
finality as the chain advances, keeps the spec's participation rules (checked step by
step against the spec's own store), and refuses data from its clock's future."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bizra_node.consensus import BeaconSource, BeaconSourceConfig, Check, ExecutionHead
from tests.support.beacon import BeaconServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _block(number: int) -> Any:
    from tests.support.beacon_chain import ExecutionBlock

    return ExecutionBlock(number, bytes([number % 256]) * 32)


@pytest.fixture(scope="module")
def chain() -> Iterator[Any]:
    """One chain for the module (its genesis and first round take ~10 s of CPU); tests
    that advance it run in the order written."""
    from tests.support.beacon_chain import LightClientChain

    built = LightClientChain()
    built.advance(_block(100), _block(110))
    yield built


@pytest.fixture
async def server(chain: Any) -> AsyncIterator[BeaconServer]:
    beacon = BeaconServer(chain)
    await beacon.start()
    try:
        yield beacon
    finally:
        await beacon.stop()


def _source(chain: Any, url: str, **network_changes: Any) -> BeaconSource:
    net = dataclasses.replace(chain.network(), **network_changes)
    return BeaconSource(BeaconSourceConfig(urls=(url,), checkpoint=chain.trusted_root,
                                           network=net, interval=3600, timeout=30))


def _head(head: ExecutionHead | None) -> tuple[int, bytes] | None:
    return None if head is None else (head.number, head.block_hash)


async def test_it_reports_the_execution_blocks_the_chain_was_given(chain: Any,
                                                                   server: BeaconServer) -> None:
    source = _source(chain, server.url)
    await source.start()
    try:
        assert await source.wait_synced(120), source.status()
        assert _head(source.finalized) == (100, bytes([100]) * 32)
        assert _head(source.optimistic) == (110, bytes([110]) * 32)
        assert source.refusals == {}
    finally:
        await source.stop()


async def test_the_command_reads_the_custom_network_from_the_api(chain: Any,
                                                                 server: BeaconServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bizra_node.cli", "beacon", "verify", "--beacon-url", server.url,
        "--checkpoint", "0x" + chain.trusted_root.hex(), "--network", "custom",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    heads = json.loads(out.decode().strip().splitlines()[-1])
    assert heads["finalized"]["executionBlockNumber"] == 100
    assert heads["finalized"]["executionBlockHash"] == "0x" + "64" * 32
    assert heads["optimistic"]["executionBlockNumber"] == 110
    assert "preset minimal" in err.decode()


async def test_data_from_the_clocks_future_is_refused(chain: Any, server: BeaconServer) -> None:
    """The same chain, but a clock whose genesis is now: every update it has was signed
    in slots that have not come yet."""
    source = _source(chain, server.url, genesis_time=int(time.time()))
    await source.start()
    try:
        deadline = time.monotonic() + 120
        while not source.refusals and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert source.refusals == {Check.UPDATE_FROM_FUTURE: 1}
        assert source.finalized is None
    finally:
        await source.stop()


async def test_participation_rules_match_the_specs_store(chain: Any,
                                                         server: BeaconServer) -> None:
    """Rounds signed by 32, 17 and 22 of the 32 members: 17 moves the optimistic head
    (more than half the best participation seen) but not finality (2/3 needed; the
    finality update is refused by name); 22 finalizes. After each round our store holds
    the headers the spec's store holds, fed the same updates."""
    spec = chain.spec
    source = _source(chain, server.url)
    await source.start()
    try:
        assert await source.wait_synced(120)
        # the spec's own store, bootstrapped from the same checkpoint, fed the same data
        ref = spec.initialize_light_client_store(chain.trusted_root, chain.bootstrap_data)
        for update in chain.rounds:
            spec.process_light_client_update(ref, update, update.signature_slot,
                                             chain.genesis_validators_root)

        async def round_(finalized: int, optimistic: int, participation: float) -> None:
            update = await asyncio.to_thread(chain.advance, _block(finalized),
                                             _block(optimistic), participation=participation)
            fin = spec.create_light_client_finality_update(update)
            opt = spec.create_light_client_optimistic_update(update)
            for item, process in ((fin, spec.process_light_client_finality_update),
                                  (opt, spec.process_light_client_optimistic_update)):
                process(ref, item, update.signature_slot, chain.genesis_validators_root)
            await source.refresh()

        def same_as_spec() -> None:
            assert _head(source.finalized) == (int(ref.finalized_header.execution.block_number),
                                               bytes(ref.finalized_header.execution.block_hash))
            assert _head(source.optimistic) == (
                int(ref.optimistic_header.execution.block_number),
                bytes(ref.optimistic_header.execution.block_hash))

        same_as_spec()
        await round_(120, 130, 17 / 32)
        same_as_spec()
        assert _head(source.finalized) == (100, bytes([100]) * 32)  # no finality at 17/32
        assert _head(source.optimistic) == (130, bytes([130]) * 32)  # 17 > 32 // 2
        assert source.refusals[Check.FINALITY_SUPERMAJORITY] == 1

        await round_(140, 150, 22 / 32)
        same_as_spec()
        assert _head(source.finalized) == (140, bytes([140]) * 32)
        assert _head(source.optimistic) == (150, bytes([150]) * 32)
    finally:
        await source.stop()
