"""`bizra-node beacon verify` on recorded mainnet data, served over real HTTP by a
local beacon light-client API (tests/support/beacon.py), with --now-slot replaying
the recording's time: the last line is the verified heads as JSON; a lying server is
one line naming the failed check and exit 1."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bizra_node.cli import main
from bizra_node.devnet import free_port
from tests.support.beacon import BeaconServer, RecordedBeacon

CHECKPOINT = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275"
NOW_SLOT = 7109432
EXPECTED = {
    "finalized": {"slot": 7109344, "executionBlockNumber": 17923026,
                  "executionBlockHash":
                  "0xbc8499537876e5406c7a65e25f99063f1cd85a17014a3aa5ade38271b1fbf64f"},
    "optimistic": {"slot": 7109431, "executionBlockNumber": 17923113,
                   "executionBlockHash":
                   "0x3c015340e234ff7f8e75ecebb11d45154a394cd896ddcfcfffc941a07b314960"},
}


@pytest.fixture
async def server() -> AsyncIterator[BeaconServer]:
    data = RecordedBeacon()
    data.checkpoint = CHECKPOINT
    beacon = BeaconServer(data)
    await beacon.start()
    try:
        yield beacon
    finally:
        await beacon.stop()


async def verify(*args: str) -> tuple[int, str, str]:
    """The command in this process (in a thread: it runs its own event loop), its
    stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(["beacon", "verify", *args])

    code = await asyncio.wait_for(asyncio.to_thread(run), 90)
    return code, out.getvalue(), err.getvalue()


async def verify_process(*args: str) -> tuple[int, str, str]:
    """The installed command, as a process of its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bizra_node.cli", "beacon", "verify", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _args(server: BeaconServer, *extra: str) -> list[str]:
    return ["--beacon-url", server.url, "--checkpoint", CHECKPOINT,
            "--now-slot", str(NOW_SLOT), *extra]


async def test_verify_syncs_the_recording_to_its_finalized_and_optimistic_blocks(
        server: BeaconServer) -> None:
    code, out, err = await verify_process(*_args(server, "--network", "mainnet"))
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == EXPECTED
    assert "bootstrap: checkpoint at slot 7069376 (period 862)" in err
    assert "period 867: 512/512 signed; finalized slot 7104096" in err
    assert "warning" not in err  # 5.5 days old when the data was recorded
    assert server.pages[0] == (862, 6)
    assert server.requests["bootstrap"] == 1


async def test_an_old_checkpoint_syncs_in_pages_of_at_most_128_periods(
        server: BeaconServer) -> None:
    """With the clock 300 periods later, the updates are asked 128 periods at a time
    (the spec's limit; a server refuses more), and the sync still gets there."""
    later = str(NOW_SLOT + 300 * 8192)
    code, out, err = await verify("--beacon-url", server.url, "--checkpoint", CHECKPOINT,
                                  "--now-slot", later)
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == EXPECTED
    assert server.pages[0] == (862, 128)
    assert all(count <= 128 for _, count in server.pages)
    assert "warning: the checkpoint is 347 days old" in err


def _signature(forged: str) -> Callable[[Any], Any]:
    def rewrite(body: Any) -> Any:
        body["data"]["sync_aggregate"]["sync_committee_signature"] = forged
        return body
    return rewrite


def _execution_hash(body: Any) -> Any:
    body["data"]["finalized_header"]["execution"]["block_hash"] = "0x" + "ab" * 32
    return body


def _swap_next_committee(body: Any) -> Any:
    keys = body[0]["data"]["next_sync_committee"]["pubkeys"]
    keys[0], keys[1] = keys[1], keys[0]
    return body


def _swap_bootstrap_committee(body: Any) -> Any:
    keys = body["data"]["current_sync_committee"]["pubkeys"]
    keys.append(keys.pop(0))
    return body


def _no_signers(body: Any) -> Any:
    body["data"]["sync_aggregate"]["sync_committee_bits"] = "0x" + "00" * 64
    return body


def _older_finality(body: Any) -> Any:
    """Period 866's finality (slot 7094272) where 7109344's was: older than the
    finalized slot the period updates already verified (7104096)."""
    older = RECORDED.updates(866, 1)[0]["data"]
    return {"version": "capella", "data": {k: older[k] for k in (
        "attested_header", "finalized_header", "finality_branch", "sync_aggregate",
        "signature_slot")}}


RECORDED = RecordedBeacon()
ANOTHER_SIGNATURE = RECORDED.updates(862, 1)[0]["data"]["sync_aggregate"]["sync_committee_signature"]
FORGERIES: dict[str, tuple[str, Callable[[Any], Any], str]] = {
    "forged signature": ("finality_update", _signature(ANOTHER_SIGNATURE), "signature"),
    "bad execution branch": ("finality_update", _execution_hash, "execution-branch"),
    "next committee swapped": ("updates", _swap_next_committee, "next-sync-committee-branch"),
    "bootstrap committee swapped": ("bootstrap", _swap_bootstrap_committee,
                                    "current-sync-committee-branch"),
    "no participation": ("optimistic_update", _no_signers, "participation"),
    "finality older than held": ("finality_update", _older_finality,
                                 "finality-older-than-held"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_a_lying_server_is_refused_by_name(server: BeaconServer, name: str) -> None:
    endpoint, rewrite, check = FORGERIES[name]
    server.tamper[endpoint] = rewrite
    run = verify_process if name == "forged signature" else verify
    code, out, err = await run(*_args(server))
    assert code == 1, err
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"beacon verify: refused, check {check} failed: "), last


async def test_an_update_from_the_future_is_refused(server: BeaconServer) -> None:
    code, _, err = await verify("--beacon-url", server.url, "--checkpoint", CHECKPOINT,
                                "--now-slot", str(7109430))
    assert code == 1
    assert "check update-from-future failed: signed at slot 7109431, after the current " \
        "slot 7109430" in err.strip().splitlines()[-1]


async def test_a_checkpoint_the_server_lacks_is_an_http_error(server: BeaconServer) -> None:
    code, out, err = await verify("--beacon-url", server.url, "--checkpoint", "0x" + "11" * 32,
                                  "--now-slot", str(NOW_SLOT))
    assert (code, out) == (3, "")
    assert "HTTP 404" in err.strip().splitlines()[-1]


async def test_an_unreachable_server_exits_3() -> None:
    code, out, err = await verify("--beacon-url", f"http://127.0.0.1:{free_port()}",
                                  "--checkpoint", CHECKPOINT, "--now-slot", "1", "--timeout", "5")
    assert (code, out) == (3, "")
    assert "beacon API unavailable" in err


@pytest.mark.parametrize("args", [["--checkpoint", "0x1234"], ["--checkpoint", "zz" * 32],
                                  ["--checkpoint", CHECKPOINT, "--now-slot", "-1"]])
async def test_bad_arguments_exit_2(args: list[str]) -> None:
    code, out, _ = await verify("--beacon-url", "http://127.0.0.1:9", *args)
    assert (code, out) == (2, "")


async def test_a_custom_network_is_read_from_the_beacon_api(server: BeaconServer) -> None:
    code, out, err = await verify(*_args(server, "--network", "custom"))
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == EXPECTED
    assert "network mainnet from the beacon API" in err
    assert server.requests["spec"] == 1 and server.requests["genesis"] == 1


async def test_a_custom_network_the_api_describes_badly_exits_3(server: BeaconServer) -> None:
    def gnosis(body: Any) -> Any:
        body["data"]["PRESET_BASE"] = "gnosis"
        return body

    server.tamper["spec"] = gnosis
    code, out, err = await verify(*_args(server, "--network", "custom"))
    assert (code, out) == (3, "")
    assert "the beacon API's network config is unusable: PRESET_BASE 'gnosis'" in err
