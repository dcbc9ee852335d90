"""Clients that hold connections: a connection that sends nothing, half a
header, a body that never arrives in full. Each is closed within its timeout (with a
408 where an answer is still possible), and a client that leaves mid-body makes no
error line in the log."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

TIMEOUTS = {"HTTP_HEADER_TIMEOUT": "1", "HTTP_BODY_TIMEOUT": "1"}
POST = (b"POST /api/v1/validate/transaction HTTP/1.1\r\nHost: node\r\n"
        b"Content-Type: application/json\r\n")


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def served(request: pytest.FixtureRequest, devnet: Devnet) -> Iterator[str]:
    """One node per interface for the module: each test's connection is closed by the
    node before the test ends, so the next one finds it as new."""
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, **TIMEOUTS},
                              "--interface", request.param)
    try:
        yield base
    finally:
        assert stop_server(proc) == 0


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    start = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def test_a_connection_that_sends_nothing_is_closed(served: str) -> None:
    with connect(served) as sock:
        data, took = read_until_closed(sock)
    assert data == b"" and took < 5


def test_half_a_header_is_closed(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\n")
        _, took = read_until_closed(sock)
    assert took < 5


def test_an_idle_keep_alive_connection_is_closed(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        data, took = read_until_closed(sock)
    assert data == b"" and took < 5


def test_a_body_shorter_than_its_length_is_a_408(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(POST + b"Content-Length: 100\r\n\r\n{")
        data, took = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b'"code":"REQUEST_TIMEOUT"' in data
    assert took < 5


def test_a_trickled_chunked_body_is_a_408(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(POST + b"Transfer-Encoding: chunked\r\n\r\n")
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                try:
                    sock.sendall(b"1\r\n{\r\n")
                except OSError:
                    return
                time.sleep(0.2)

        sender = threading.Thread(target=trickle)
        sender.start()
        try:
            data, took = read_until_closed(sock)
        finally:
            stop.set()
            sender.join()
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert took < 5


@pytest.mark.parametrize("interface", ["rsgi", "asgi"])
def test_a_client_leaving_mid_body_logs_no_error(devnet: Devnet, interface: str) -> None:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, **TIMEOUTS, "LOG_LEVEL": "info"},
                              "--interface", interface)
    try:
        for _ in range(5):
            with connect(base) as sock:
                sock.sendall(POST + b"Content-Length: 100\r\n\r\n{\"txHash\":")
                time.sleep(0.1)
            with connect(base) as sock:
                sock.sendall(POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"txH\r\n")
                time.sleep(0.1)
        time.sleep(0.5)
        with connect(base) as sock:  # the worker still answers
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            metrics = read_until_closed(sock)[0]
    finally:
        assert stop_server(proc) == 0
    assert proc.stderr is not None
    log = proc.stderr.read().decode(errors="replace")
    assert "Traceback" not in log and "[ERROR]" not in log, log[-3000:]
    # a cut Content-Length body is counted as 499; a cut chunked body reads, through
    # granian's RSGI iterator, as a shorter body: answered 400 (to nobody), no error either
    assert b'route="/api/v1/validate/transaction",status="499"}' in metrics


def test_many_silent_connections_do_not_lock_others_out(devnet: Devnet) -> None:
    """granian's backpressure counts connections: at its default (backlog / workers,
    2 048 here) 2 200 silent connections kept every new one waiting in the backlog;
    HTTP_MAX_CONNECTIONS (8 192 per worker) lets the node go on answering."""
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "HTTP_HEADER_TIMEOUT": "30"})
    held: list[socket.socket] = []
    try:
        for _ in range(2_200):
            held.append(connect(base))
        time.sleep(0.5)
        with connect(base) as sock:
            sock.settimeout(3)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
        assert stop_server(proc) == 0
