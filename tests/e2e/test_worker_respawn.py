"""Workers that die, with real processes and real signals: the node
keeps serving while a killed worker is replaced, replaces a worker however often it
dies (granian alone exits on a second death within 5.5 s), counts and logs each
restart, and a worker whose main process is killed does not live on as an orphan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
import urllib.request

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

CONCURRENCY = 16


def workers(pid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            line = " ".join(p.cmdline())
            if "bizra" in line or "granian" in line or p.name().startswith("python"):
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


def worker_pids(pid: int) -> set[int]:
    return {p.pid for p in workers(pid)}


async def wait_workers(pid: int, count: int, gone: set[int] = frozenset(),  # type: ignore[assignment]
                       timeout: float = 30) -> set[int]:
    """The main process's worker pids once there are ``count`` of them, none in ``gone``."""
    deadline = time.monotonic() + timeout
    while True:
        now = worker_pids(pid)
        if len(now) == count and not now & gone:
            return now
        assert time.monotonic() < deadline, f"workers {now} (want {count}, none of {gone})"
        await asyncio.sleep(0.05)


def answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2):
            return True
    except OSError:
        return False


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == name)


async def test_a_killed_worker_is_replaced_and_only_its_requests_fail(devnet: Devnet) -> None:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--workers", "2")
    try:
        before = await wait_workers(proc.pid, 2)
        url = f"{base}/api/v1/transactions/{devnet.manifest.legacy_tx}"
        results: list[tuple[float, bool]] = []
        stop = asyncio.Event()

        async def client(http: aiohttp.ClientSession) -> None:
            while not stop.is_set():
                try:
                    async with http.get(url) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                results.append((time.monotonic(), ok))

        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks = [asyncio.create_task(client(http)) for _ in range(CONCURRENCY)]
            await asyncio.sleep(1.5)
            victim = sorted(before)[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(4)
            stop.set()
            await asyncio.gather(*tasks)
        assert proc.poll() is None, "the server shut down when one worker died"
        after_kill = [ok for at, ok in results if at > killed_at + 0.5]
        assert after_kill and all(after_kill), "requests failed after the kill settled"
        failures = sum(1 for _, ok in results if not ok)
        assert failures <= CONCURRENCY, f"{failures} failures: more than the in-flight requests"
        await wait_workers(proc.pid, 2, {victim}, timeout=15)
    finally:
        assert stop_server(proc) == 0


async def test_a_worker_that_keeps_dying_is_replaced_each_time(devnet: Devnet) -> None:
    """Three SIGKILLs of one worker slot, each as soon as its replacement is up (granian
    alone calls that a crash loop and exits, taking the node down): the node stays,
    every death is logged with the worker's pid and signal, and counted."""
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--workers", "2")
    killed: list[int] = []
    try:
        pids = await wait_workers(proc.pid, 2)
        assert metric(base, "worker_restarts_total") == 0  # exported before the first
        for _ in range(3):
            victim = max(pids)  # the newest: the one replaced last time, after the first
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            pids = await wait_workers(proc.pid, 2, set(killed))
            assert proc.poll() is None, "the node exited when a worker died"
        deadline = time.monotonic() + 20
        while metric(base, "worker_restarts_total") != 3:
            assert time.monotonic() < deadline, metric(base, "worker_restarts_total")
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:
            for _ in range(20):  # both workers answer (SO_REUSEPORT spreads connections)
                async with http.get(base + "/health") as resp:
                    assert resp.status == 200
    finally:
        code = stop_server(proc)
    assert code == 0, "an operator's SIGINT still drains and exits 0"
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    for pid in killed:
        assert re.search(rf"worker-\d+ \(pid {pid}\) .*SIGKILL", err), err[-3000:]


async def test_a_worker_exits_when_the_main_process_is_killed(devnet: Devnet) -> None:
    """kill -9 of the node's main process (the pid an operator sees): its workers get
    the parent's death signal and stop, instead of serving on as orphans."""
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--workers", "2")
    orphans: list[psutil.Process] = []
    try:
        orphans = [psutil.Process(p) for p in await wait_workers(proc.pid, 2)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _gone, alive = psutil.wait_procs(orphans, timeout=20)
        assert not alive, f"workers outlived their main process: {[p.pid for p in alive]}"
        assert not answers(base), "something still answers on the node's port"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


async def test_the_admin_listener_goes_with_a_killed_main_process(devnet: Devnet) -> None:
    """METRICS_ADDRESS's listener is a granian of its own, started by the node's main
    process: it stops when that process is killed, and leaves its port free."""
    from bizra_node.devnet import free_port

    admin = f"http://127.0.0.1:{free_port()}"
    proc, _base = start_server({"BIZRA_NODE_URL": devnet.url,
                                "METRICS_ADDRESS": admin.removeprefix("http://")})
    tree: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        while not answers(admin):
            assert time.monotonic() < deadline, "the admin listener did not start"
            await asyncio.sleep(0.1)
        tree = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _gone, alive = psutil.wait_procs(tree, timeout=20)
        assert not alive, f"outlived the main process: {[p.cmdline()[:4] for p in alive]}"
        assert not answers(admin)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
