"""A port that is taken is one line naming it and what changes it; a free one (even with
connections in TIME_WAIT) passes."""

from __future__ import annotations

import socket

import pytest

from bizra_node.server import PortUnavailable, check_port


def test_a_listening_port_is_refused_with_its_number_and_the_fix() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(PortUnavailable) as caught:
            check_port("127.0.0.1", port, what="the HTTP server",
                       change="set BIZRA_PORT or pass --port")
    line = str(caught.value)
    assert "\n" not in line
    assert f"127.0.0.1:{port}" in line and "already in use" in line
    assert line.endswith("set BIZRA_PORT or pass --port")


def test_a_reuseport_listener_counts_as_taken() -> None:
    """granian's workers bind with SO_REUSEPORT: an orphaned worker holds the port too."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        with pytest.raises(PortUnavailable):
            check_port("127.0.0.1", held.getsockname()[1], what="x", change="y")


def test_a_free_port_and_port_zero_pass() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port, what="x", change="y")
    check_port("127.0.0.1", 0, what="x", change="y")


def test_a_port_after_a_closed_connection_is_free() -> None:
    """The server side of a closed connection sits in TIME_WAIT; a restart may bind."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server closes first: its side goes to TIME_WAIT
        client.close()
    check_port("127.0.0.1", port, what="x", change="y")


def test_an_address_not_on_this_machine_is_said() -> None:
    with pytest.raises(PortUnavailable, match="not an address of this machine"):
        check_port("192.0.2.1", 8080, what="the HTTP server", change="set BIZRA_HOST")
