"""kill -9 under load, for each DURABILITY: `bizra-node serve` (two workers)
answers distinct validations, then every process of it is killed with SIGKILL and a
new one is started on the same database and DATA_DIR. With local and sync no answered
validation lacks its row (the local log is replayed at start); async loses what its
queue held. Batches wait up to 0.5 s here (WRITE_BATCH_INTERVAL) so that the queue
always holds records when the kill comes: async must lose some, or the test proves
nothing about the other two."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from bizra_node.validation import to_checksum_address
from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.postgres import scratch_database


def kill_all(pid: int) -> None:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


async def recorded(dsn: str, subjects: set[str]) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT subject FROM validations WHERE kind = 'address'")
    finally:
        await conn.close()
    return {r["subject"] for r in rows} & subjects


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["async", "local", "sync"])
async def test_kill_9_under_load(devnet: Devnet, tmp_path: Path, mode: str) -> None:
    async with scratch_database() as dsn:
        env = {"BIZRA_NODE_URL": devnet.url, "DB_ENABLED": "true", "DATABASE_URL": dsn,
               "DATA_DIR": str(tmp_path), "DURABILITY": mode,
               "WRITE_BATCH_INTERVAL": "0.5"}
        proc, base = start_server(env, "--workers", "2")
        answered: set[str] = set()
        stop = asyncio.Event()

        async def client(http: httpx.AsyncClient) -> None:
            while not stop.is_set():
                address = os.urandom(20).hex()
                try:
                    resp = await http.post("/api/v1/validate/address",
                                           json={"address": "0x" + address})
                except httpx.TransportError:
                    continue
                if resp.status_code == 200 and not stop.is_set():
                    answered.add(to_checksum_address(address))

        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            tasks = [asyncio.create_task(client(http)) for _ in range(32)]
            await asyncio.sleep(3)
            stop.set()  # answers arriving from here on are not counted
            kill_all(proc.pid)
            await asyncio.gather(*tasks)
        assert len(answered) > 100, "too little load to mean anything"
        proc, base = start_server(env, "--workers", "2")
        try:
            # every row, or (async, which loses its queue) no new row for 2 s: nothing
            # of the killed node's is left to arrive once the new one answers
            deadline = time.monotonic() + 30
            found: set[str] = set()
            changed = time.monotonic()
            while True:
                now = await recorded(dsn, answered)
                if now != found:
                    found, changed = now, time.monotonic()
                if (found == answered or time.monotonic() > deadline
                        or (mode == "async" and time.monotonic() - changed > 2)):
                    break
                await asyncio.sleep(0.25)
        finally:
            assert stop_server(proc) == 0
        lost = len(answered - found)
        print(f"DURABILITY={mode}: {len(answered)} answered, {lost} without a row after kill -9")
        if mode == "async":
            assert lost > 0, "nothing was queued at the kill: the test shows nothing"
        else:
            assert lost == 0
        assert not list((tmp_path / "spool").glob("journal-*.bin")), "the log was not replayed"
