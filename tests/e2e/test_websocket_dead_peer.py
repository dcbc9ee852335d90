"""A WebSocket client that vanishes without a FIN or a reset (its network gone) is found
and its connection given back, against a real
`bizra-node serve` (both interfaces). The client runs in a network namespace of its own
joined to the host by a veth pair; taking its end of the pair down leaves the server's
side ESTABLISHED with nobody behind it. Before TCP_KEEPALIVE it stayed so for the
system's two hours; now the kernel's probes find it within TCP_KEEPALIVE x ~2.5."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.sockets import ESTABLISHED, connections, open_fds, wait_until, worker_of

KEEPALIVE = 2  # s: probes 1 s apart, 3 of them: dead after ~5 s

CLIENT = """
import asyncio, sys, websockets
async def main(url):
    socks = []
    for i in range(4):
        ws = await websockets.connect(url, ping_interval=None)
        if i % 2 == 0:
            await ws.send('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
            await ws.recv()
        socks.append(ws)
    print("ready", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main(sys.argv[1]))
"""


@dataclass
class Namespace:
    name: str
    host_ip: str
    client_ip: str

    def run(self, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, *args], check=True, timeout=10)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=10, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (a network namespace for the client)")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    name, host_end, client_end = f"bzt{tag}", f"bzh{tag}", f"bzc{tag}"
    a, b = random.randrange(256), random.randrange(0, 256, 4)
    ns = Namespace(name, f"10.213.{a}.{b + 1}", f"10.213.{a}.{b + 2}")
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot make a network namespace: {exc.stderr!r}")
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", client_end, "netns", name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        ns.run("ip", "addr", "add", f"{ns.client_ip}/30", "dev", client_end)
        ns.run("ip", "link", "set", client_end, "up")
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=10, check=False)
        subprocess.run(["ip", "link", "del", host_end], timeout=10, check=False,
                       capture_output=True)


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
async def test_a_vanished_client_is_dropped(namespace: Namespace, devnet: Devnet,
                                            interface: str) -> None:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "BIZRA_HOST": "0.0.0.0",
                               "TCP_KEEPALIVE": str(KEEPALIVE)}, "--interface", interface)
    client = None
    try:
        port = int(base.rsplit(":", 1)[1])
        worker = worker_of(proc.pid).pid
        fds_before = open_fds(worker)
        client = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", namespace.name, sys.executable, "-c", CLIENT,
            f"ws://{namespace.host_ip}:{port}/rpc", stdout=asyncio.subprocess.PIPE)
        assert client.stdout is not None
        assert (await asyncio.wait_for(client.stdout.readline(), 30)).strip() == b"ready"
        assert connections(port, ESTABLISHED) >= 4
        namespace.run("ip", "link", "set", f"bzc{namespace.name[3:]}", "down")  # gone
        (fds, _), took = await wait_until(
            lambda: (open_fds(worker), connections(port, ESTABLISHED)),
            lambda s: s[0] <= fds_before + 2 and s[1] == 0, within=KEEPALIVE * 2.5 + 10)
        print(f"{interface}: 4 vanished clients dropped after {took:.1f} s "
              f"(TCP_KEEPALIVE={KEEPALIVE}); fds {fds_before} -> {fds}")
    finally:
        if client is not None:
            client.kill()
            await client.wait()
        assert stop_server(proc) == 0
