"""A port that is taken stops `bizra-node` with one line on stderr naming the port and the
setting or flag that changes it (before: a Python traceback for the devnet's port,
~76 lines of Python and Rust backtrace for the HTTP port); and "serving on" is said
only once the node really listens."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from bizra_node.devnet import free_port
from tests.e2e.test_serve import BIN

BASE_ENV = {"LOG_LEVEL": "warning", "DB_ENABLED": "false", "REDIS_URL": "",
            "BIZRA_NODE_URL": "http://127.0.0.1:9"}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], env={**os.environ, **BASE_ENV, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "serving on" not in done.stderr
    return lines[0]


def test_a_taken_http_port_set_by_bizra_port(taken: int) -> None:
    line = one_line(run(["serve", "--workers", "1"], {"BIZRA_PORT": str(taken)}))
    assert f":{taken}" in line and "in use" in line and "BIZRA_PORT" in line


def test_a_taken_http_port_given_by_flag(taken: int) -> None:
    line = one_line(run(["serve", "--workers", "1", "--port", str(taken)], {}))
    assert f":{taken}" in line and "--port" in line


def test_a_taken_devnet_port(taken: int) -> None:
    line = one_line(run(["serve", "--workers", "1", "--port", str(free_port()),
                         "--devnet-port", str(taken)], {"BIZRA_NODE_URL": ""}))
    assert f":{taken}" in line and "--devnet-port" in line and "anvil" in line


def test_a_taken_devnet_port_of_the_devnet_command(taken: int) -> None:
    line = one_line(run(["devnet", "--port", str(taken)], {}))
    assert f":{taken}" in line and "--port" in line


def test_a_taken_metrics_address(taken: int) -> None:
    line = one_line(run(["serve", "--workers", "1", "--port", str(free_port())],
                        {"METRICS_ADDRESS": f"127.0.0.1:{taken}"}))
    assert f":{taken}" in line and "METRICS_ADDRESS" in line


def test_serving_on_is_said_once_the_port_answers() -> None:
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--workers", "1", "--port", str(port)],
                            env={**os.environ, **BASE_ENV}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:  # ends when the process does
            if "serving on" in line:
                break
            assert time.monotonic() < deadline, "no 'serving on' line"
        else:
            raise AssertionError(f"exited without serving: {proc.wait()}")
        assert f"http://127.0.0.1:{port}" in line
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # connection refused would mean it said so before listening
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reads on: a full stderr pipe would hold it up


def test_a_devnet_that_does_not_start_for_another_reason_is_one_line() -> None:
    line = one_line(run(["devnet", "--port", str(free_port())], {"ANVIL_BIN": "/bin/false"}))
    assert line.startswith("bizra-node: the devnet (anvil) did not start: ")
