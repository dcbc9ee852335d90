"""`bizra-node serve` as a real granian process (RSGI and ASGI), end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bizra_node.devnet import free_port
from tests.conftest import Devnet

BIN = str(Path(sys.executable).with_name("bizra-node"))


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(base + "/health", timeout=0.5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("server did not become healthy")


def start_server(env_extra: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "warning", "DB_ENABLED": "false", "REDIS_URL": "",
           **env_extra}
    proc = subprocess.Popen([BIN, "serve", "--port", str(port), "--workers", "1", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
    except Exception:
        proc.kill()
        raise
    return proc, base


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def server(request: pytest.FixtureRequest, devnet: Devnet) -> Iterator[str]:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--interface", request.param)
    yield base
    assert stop_server(proc) == 0


async def test_validate_over_real_http(server: str, devnet: Devnet) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(server + "/api/v1/validate/transaction",
                             json={"txHash": devnet.manifest.eip1559_tx},
                             headers={"x-request-id": "e2e-1"}) as resp:
            assert resp.status == 200
            assert resp.headers["x-request-id"] == "e2e-1"
            body = await resp.json()
        assert body["data"]["data"]["status"] == "confirmed"
        async with http.get(server + f"/api/v1/transactions/{devnet.manifest.legacy_tx}") as r:
            assert r.headers["cache-control"].endswith("immutable")
            etag = r.headers["etag"]
        async with http.get(server + f"/api/v1/transactions/{devnet.manifest.legacy_tx}",
                            headers={"if-none-match": etag}) as r:
            assert r.status == 304


async def test_oversized_bodies_over_real_http(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(server + "/api/v1/validate/transaction", data=b"x" * 100_000,
                             headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["details"]["reason"] == "body_too_large"

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(20):
                yield b"y" * 8192

        async with http.post(server + "/api/v1/validate/transaction", data=chunks(),
                             headers={"content-type": "application/json"}) as resp:
            assert resp.status == 400


def test_serve_without_upstream_starts_a_seeded_devnet(tmp_path: Path) -> None:
    """What `make run` does: no BIZRA_NODE_URL -> anvil is started, seeded and stopped."""
    devnet_port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "BIZRA_NODE_URL"}
    os.chdir(tmp_path)  # the seed manifest is written under the working directory
    try:
        proc, base = start_server({**env, "BIZRA_NODE_URL": ""}, "--devnet-port",
                                  str(devnet_port))
        manifest = json.loads((tmp_path / ".devnet" / "seed.json").read_text())
        req = urllib.request.Request(
            base + "/api/v1/validate/transaction",
            data=json.dumps({"txHash": manifest["reverted_tx"]}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["data"]["data"]["status"] == "failed"
        assert stop_server(proc) == 0
        with pytest.raises(OSError):  # the devnet went away with the node
            urllib.request.urlopen(f"http://127.0.0.1:{devnet_port}", timeout=1)
    finally:
        os.chdir(Path(__file__).resolve().parents[2])
