"""A port the node is about to listen on is checked first, and a taken one is said in one
line naming the port and what changes it.

Without the check, a busy BIZRA_PORT surfaced as ~76 lines of Python and Rust backtrace
from granian (after the node had already said it was serving), and a busy devnet port
as a traceback ending in "anvil on port 8545 exited at start".
"""

from __future__ import annotations

import errno
import socket

__all__ = ["PortUnavailable", "check_port"]


class PortUnavailable(RuntimeError):
    """The node cannot listen on ``host:port``; ``str()`` is the one line to print."""

    def __init__(self, host: str, port: int, what: str, change: str, reason: str) -> None:
        self.host, self.port = host, port
        super().__init__(f"bizra-node: cannot listen on {_address(host, port)} for {what}: "
                         f"{reason}; {change}")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_port(host: str, port: int, *, what: str, change: str) -> None:
    """Raise :class:`PortUnavailable` unless a listener could bind ``host:port`` now.

    Binds with SO_REUSEADDR, as the servers do, so a port whose last connections are in
    TIME_WAIT counts as free; a listener of any process (with or without SO_REUSEPORT)
    counts as taken. Port 0 (any free port) is always fine. ``what`` names the listener
    ("the HTTP server"), ``change`` says how to pick another port ("set BIZRA_PORT or
    pass --port")."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = f"port {port} is already in use by another process"
        elif exc.errno == errno.EACCES:
            reason = f"port {port} needs privileges this process does not have"
        elif exc.errno == errno.EADDRNOTAVAIL:
            reason = f"{host} is not an address of this machine"
        else:
            reason = exc.strerror or str(exc)
        raise PortUnavailable(host, port, what, change, reason) from None
