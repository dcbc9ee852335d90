"""`bizra-node serve` with two granian workers on the devnet: /metrics answers for both."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from bizra_node.devnet import free_port
from tests.conftest import Devnet


@pytest.fixture
def served(devnet: Devnet, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {**os.environ, "BIZRA_NODE_URL": devnet.url, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "DB_ENABLED": "false", "REDIS_URL": "", "LOG_LEVEL": "warning",
           "METRICS_FLUSH_INTERVAL": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "bizra_node.cli", "serve", "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        yield base, metrics_dir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert not list(metrics_dir.glob("*.db")), "serve leaves its metric files behind"


def per_pid_health_counts(metrics_dir: Path) -> dict[str, float]:
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_")[1]
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if '"route": "/health"' in key and '"status": "200"' in key:
                counts[pid] = counts.get(pid, 0) + value
    return counts


async def scrape(client: httpx.AsyncClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = (await client.get("/metrics")).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


async def test_counts_from_both_workers_add_up(served: tuple[str, Path], devnet: Devnet) -> None:
    base, metrics_dir = served
    sent = 0

    async def one_fresh_connection() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get("/health")).status_code == 200

    # new connections until both workers have served some (the kernel picks the worker)
    for _ in range(40):
        await asyncio.gather(*(one_fresh_connection() for _ in range(25)))
        sent += 25
        await asyncio.sleep(0.3)  # a flush interval
        if len(per_pid_health_counts(metrics_dir)) >= 2:
            break
    client = httpx.AsyncClient(base_url=base, timeout=10)
    resp = await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}")
    assert resp.status_code == 200

    per_pid: dict[str, float] = {}
    total = 0.0
    for _ in range(100):  # until every worker has flushed what it counted
        per_pid = per_pid_health_counts(metrics_dir)
        samples = await scrape(client)
        total = sum(v for labels, v in samples.get("api_requests_total", [])
                    if labels == {"route": "/health", "status": "200"})
        if total == sent and sum(per_pid.values()) == sent:
            break
        await asyncio.sleep(0.1)
    assert len(per_pid) == 2 and all(v > 0 for v in per_pid.values()), per_pid
    assert total == sent
    count = [v for labels, v in samples["api_response_time_seconds_count"]
             if labels == {"route": "/health", "status": "200"}]
    assert count == [sent]
    rss = samples["process_resident_memory_bytes"]
    assert {labels["pid"] for labels, _ in rss} == set(per_pid)
    assert all(v > 10 * 1024 * 1024 for _, v in rss)
    tx_route = [v for labels, v in samples["api_requests_total"]
                if labels["route"] == "/api/v1/transactions/{param}"]
    assert tx_route == [1]

    doc = (await client.get("/api/metrics")).json()
    await client.aclose()
    assert doc["meta"]["multiprocess"] is True
    assert doc["requests"]["by_status"]["200"] >= sent + 1
    assert len(doc["memory"]["workers"]) == 2
    assert doc["cache"]["hit_rate"] == 0.0
