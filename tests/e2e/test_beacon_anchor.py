"""`bizra-node serve` anchored on the sync committee (ANCHOR_SOURCE=beacon), end to end:
a beacon chain built by the consensus spec's own code (tests/support/beacon_chain.py,
minimal preset, the spec's test keys) whose finalized and optimistic headers name
anvil's real blocks, served as a beacon API over HTTP; the node follows it with its
light client, and its answers say ``anchor: "sync-committee"``, final up to the signed
finalized block. Then the beacon API lies, one way at a time -- a sync committee swapped
without a valid update, a forged signature, an execution hash not under the signed
header, too little participation, a finality update older than the one held -- and
each lie is refused, counted in ``beacon_refusals_total`` by its check, and logged;
the anchor moves only on an honest round. A beacon API that goes away leaves /ready
not ready (stale) and is counted in ``beacon_unavailable_total``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bizra_node.devnet import free_port, rpc
from tests.conftest import Devnet
from tests.e2e.test_serve import BIN, stop_server, wait_healthy
from tests.support.beacon import BeaconThread

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _execution(url: str, number: int) -> Any:
    from tests.support.beacon_chain import ExecutionBlock

    block = rpc(url, "eth_getBlockByNumber", [hex(number), False])
    return ExecutionBlock(number, bytes.fromhex(block["hash"][2:]))


def _network_file(chain: Any, path: Path) -> Path:
    """The chain's config as a devnet config file (BEACON_NETWORK), its slots made 1 s
    long: the light client then refreshes every second. (A slot's length sets only the
    clock, not what is signed; the clock stays past every slot the chain has built.)"""
    config = {**chain.config_spec(), "SECONDS_PER_SLOT": "1",
              "GENESIS_TIME": str(chain.genesis_time),
              "GENESIS_VALIDATORS_ROOT": "0x" + chain.genesis_validators_root.hex()}
    path.write_text(json.dumps({"data": config}))
    return path


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, (json.loads(body) if body.startswith(b"{") else body.decode())


def _validate_block(base: str, number: int) -> dict[str, Any]:
    request = urllib.request.Request(base + "/api/v1/validate/block",
                                     data=json.dumps({"blockNumber": number}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return dict(json.loads(resp.read())["data"])


def _metric(base: str, name: str, labels: str) -> float:
    _, text = _get(base + "/metrics")
    match = re.search(rf"^{name}\{{{re.escape(labels)}\}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _until(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.2)


def _beacon(base: str) -> dict[str, Any]:
    return dict(_get(base + "/ready")[1]["data"]["checks"]["beacon"])


@pytest.fixture(scope="module")
def chain() -> Any:
    """The chain (its genesis takes ~10 s of CPU); the test advances it."""
    from tests.support.beacon_chain import LightClientChain

    return LightClientChain()


@pytest.fixture
def beacon(chain: Any) -> Iterator[BeaconThread]:
    served = BeaconThread(chain)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _swap_next_committee(body: Any) -> Any:
    for update in body:
        keys = update["data"]["next_sync_committee"]["pubkeys"]
        keys.append(keys.pop(0))
    return body


def _forge_signature(body: Any) -> Any:
    sig = body["data"]["sync_aggregate"]["sync_committee_signature"]
    body["data"]["sync_aggregate"]["sync_committee_signature"] = sig[:-2] + (
        "00" if sig[-2:] != "00" else "01")
    return body


def _execution_hash(body: Any) -> Any:
    body["data"]["finalized_header"]["execution"]["block_hash"] = "0x" + "ab" * 32
    return body


def test_the_node_anchors_on_the_sync_committee_and_refuses_each_lie(
        devnet: Devnet, chain: Any, beacon: BeaconThread, tmp_path: Path) -> None:
    head = int(rpc(devnet.url, "eth_blockNumber", []), 16)
    assert head >= 4, "the seeded devnet has blocks enough"
    f1, o1 = _execution(devnet.url, head - 3), _execution(devnet.url, head - 2)
    f2, o2 = _execution(devnet.url, head - 1), _execution(devnet.url, head)
    chain.advance(f1, o1)
    server = beacon.server
    # the first lie, from the start: a sync committee swapped without a valid update
    server.tamper["updates"] = _swap_next_committee

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "node.log"
    env = {**os.environ, "LOG_LEVEL": "warning", "DB_ENABLED": "false", "REDIS_URL": "",
           "BIZRA_NODE_URL": devnet.url, "METRICS_FLUSH_INTERVAL": "0.2",
           "ANCHOR_SOURCE": "beacon", "BEACON_API_URLS": server.url,
           "BEACON_CHECKPOINT": "0x" + chain.trusted_root.hex(),
           "BEACON_NETWORK": str(_network_file(chain, tmp_path / "network.json"))}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([BIN, "serve", "--port", str(port), "--workers", "1"],
                                env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        try:
            _until(lambda: server.requests["updates"] >= 2, "the swapped committee asked for")
            assert server.requests["finality_update"] == 0  # never past the swapped committee
            del server.tamper["updates"]
            wait_healthy(base, proc)
            _until(lambda: _beacon(base)["state"] == "synced", "synced")
            assert _metric(base, "beacon_refusals_total",
                           'check="next-sync-committee-branch"') >= 2

            # synced: anchored on the finalized block the committee signed
            status, ready = _get(base + "/ready")
            assert status == 200, ready
            state = ready["data"]["checks"]["beacon"]
            assert state["finalized"]["executionBlockNumber"] == f1.number
            assert state["optimistic"]["executionBlockNumber"] == o1.number
            final = _until(lambda: (r := _validate_block(base, f1.number))["verification"]
                           .get("anchor") == "sync-committee" and r, "an anchored answer")
            assert final["valid"] is True and final["data"]["finalized"] is True
            assert final["verification"]["level"] == "anchored"
            assert final["verification"]["anchorNumber"] == f1.number
            assert final["verification"]["anchorHash"] == "0x" + f1.hash.hex()
            below = _validate_block(base, f1.number - 1)
            assert below["data"]["finalized"] is True
            assert below["verification"]["anchor"] == "sync-committee"
            above = _validate_block(base, o1.number)
            assert above["data"]["finalized"] is False
            # under the optimistic block the committee signed: vouched for, so anchored
            assert above["verification"]["level"] == "anchored", above
            past = _validate_block(base, o1.number + 1)  # the upstream's alone: consistent
            assert past["verification"]["level"] != "anchored", past
            assert _metric(base, "beacon_head_slot", 'head="finalized"') > 0

            # each lie refused by its check, counted, and the anchor unmoved
            for endpoint, lie, check in (
                    ("finality_update", _forge_signature, "signature"),
                    ("finality_update", _execution_hash, "execution-branch")):
                server.tamper[endpoint] = lie
                _until(lambda c=check: _metric(base, "beacon_refusals_total",  # type: ignore[misc]
                                               f'check="{c}"') >= 1, check)
                del server.tamper[endpoint]
            assert _beacon(base)["finalized"]["executionBlockNumber"] == f1.number

            # too little participation: a real round signed by 16 of 32 (finality needs 2/3)
            chain.advance(f2, o2, participation=0.5)
            _until(lambda: _metric(base, "beacon_refusals_total",
                                   'check="finality-supermajority"') >= 1, "too few signers")
            assert _beacon(base)["finalized"]["executionBlockNumber"] == f1.number

            # an honest round: the anchor moves to the new signed finalized block
            chain.advance(f2, o2)
            _until(lambda: _beacon(base)["finalized"]["executionBlockNumber"] == f2.number,
                   "the new finalized block")
            moved = _until(lambda: (r := _validate_block(base, f2.number))["data"]["finalized"]
                           and r, "the new anchor in answers")
            assert moved["verification"]["anchorNumber"] == f2.number

            # a finality update older than the one held
            server.tamper["finality_update"] = lambda _: chain.finality_update_of(0)
            _until(lambda: _metric(base, "beacon_refusals_total",
                                   'check="finality-older-than-held"') >= 1, "older finality")
            del server.tamper["finality_update"]
            assert _beacon(base)["finalized"]["executionBlockNumber"] == f2.number

            # the beacon API gone: counted, and /ready says stale
            beacon.stop()
            _until(lambda: _beacon(base)["state"] == "stale", "stale", seconds=30)
            assert _get(base + "/ready")[0] == 503
            assert _metric(base, "beacon_unavailable_total",
                           f'url="{server.url}"') >= 1
        finally:
            code = stop_server(proc)
    logged = log_path.read_text()
    for check in ("next-sync-committee-branch", "signature", "execution-branch",
                  "finality-supermajority", "finality-older-than-held"):
        assert re.search(rf"refused an answer of .*{check}", logged), check
    assert code == 0, logged[-3000:]
