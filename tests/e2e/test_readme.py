"""The README's commands, run as a reader would, against `bizra-node serve` on its own
devnet: the validation curl and the cast lines of the /rpc section work as written
(cast installed by `make setup`, every variable defined), and `bizra-node devnet`
prints only addresses where something listens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bizra_node.devnet import free_port
from tests.e2e.test_serve import stop_server, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).with_name("bizra-node"))
CAST = ROOT / ".devnet/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"


def readme_blocks() -> list[str]:
    """The README's sh blocks that talk to a node on :8080."""
    text = (ROOT / "README.md").read_text()
    return [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "localhost:8080" in b]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """`bizra-node serve` with no BIZRA_NODE_URL (its own seeded devnet), in a folder
    laid out like a checkout after `make setup` (.devnet/node_modules)."""
    if not CAST.exists():
        pytest.skip("cast is not installed: run `make setup`")
    folder = tmp_path_factory.mktemp("checkout")
    (folder / ".devnet").mkdir()
    (folder / ".devnet" / "node_modules").symlink_to(ROOT / ".devnet" / "node_modules")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIZRA_", "REDIS_"))}
    env.update({"DB_ENABLED": "false", "LOG_LEVEL": "warning"})
    proc = subprocess.Popen([BIN, "serve", "--port", str(port), "--workers", "1",
                             "--devnet-port", str(free_port())], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=90)
        yield folder, port
    finally:
        stop_server(proc)


def test_the_readme_talks_to_a_node(node: tuple[Path, int]) -> None:
    folder, port = node
    blocks = readme_blocks()
    assert len(blocks) >= 2  # the validation curl and the /rpc cast lines
    for block in blocks:
        script = block.replace("localhost:8080", f"localhost:{port}")
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=folder,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        assert done.stdout.strip(), block


def test_devnet_prints_only_addresses_that_answer(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([BIN, "devnet", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert proc.stderr is not None
        while not any("running at" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stderr.readline())
        printed = "".join(lines)
        ports = {int(p) for p in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", printed)}
        assert ports == {port}, printed  # nothing on 8080 here: no node runs
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}", data=b'{"jsonrpc":"2.0","id":1,'
                b'"method":"eth_blockNumber","params":[]}',
                headers={"content-type": "application/json"}), timeout=10) as resp:
            assert b"result" in resp.read()
    finally:
        proc.terminate()
        proc.wait(30)
