"""TCP keepalive on the server's connections, so a dead peer's socket is given back.

A client that vanishes without a FIN or a reset (its machine or network gone) leaves a
connection the server never hears about again: an idle WebSocket (or keep-alive HTTP
connection) held its socket, buffers and subscriptions for good. A WebSocket ping would
find it, but granian's RSGI transport offers no ping (nor does ASGI), so the kernel's
keepalive does it: a connection idle ``idle`` seconds is probed every ``interval``
seconds, and after ``count`` unanswered probes it is reset; TCP_USER_TIMEOUT bounds
the same way a connection whose sent data stays unacknowledged (a dead subscriber the
node is still writing to). The reset reaches the application as the connection's end,
and everything it held goes (api/ws.py).

granian builds its listening socket inside each worker and offers no socket options,
so the worker finds it (``/proc/self/fd``: the sockets that accept) and sets the options
there: Linux copies them to every connection accepted from it. Connections accepted
before that (the first milliseconds of a worker) keep the system's defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass

__all__ = ["Keepalive", "arm_listeners", "keep_listeners_alive"]

log = logging.getLogger("bizra_node.api")


@dataclass(frozen=True, slots=True)
class Keepalive:
    idle: float
    """Seconds a connection may be idle before the first probe (TCP_KEEPALIVE)."""
    count: int = 3

    @property
    def interval(self) -> int:
        return max(round(self.idle / 3), 1)

    @property
    def dead_after(self) -> float:
        """Seconds from the last sign of the peer to its connection's reset."""
        return max(round(self.idle), 1) + self.interval * self.count


def _listening(fd: int) -> socket.socket | None:
    try:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
            return None
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and \
                sock.family in (socket.AF_INET, socket.AF_INET6):
            return sock
    except OSError:
        pass
    sock.close()
    return None


def arm_listeners(options: Keepalive) -> int:
    """Set the keepalive options on every TCP socket of this process that accepts
    connections; how many there were."""
    armed = 0
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # not Linux: nothing to do here
        return 0
    for fd in fds:
        sock = _listening(fd)
        if sock is None:
            continue
        with sock:  # (a duplicate: closing it leaves granian's socket open)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(round(options.idle), 1))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, options.interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, options.count)
            with contextlib.suppress(AttributeError, OSError):  # Linux 2.6.37+
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT,
                                int(options.dead_after * 1000))
            armed += 1
    return armed


async def keep_listeners_alive(options: Keepalive, within: float = 10.0) -> int:
    """Arm the server's listening sockets as soon as they exist (granian makes them
    after the application's start hook); how many were armed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        armed = arm_listeners(options)
        if armed or loop.time() > deadline:
            if not armed:
                log.warning("TCP_KEEPALIVE: no listening socket found in this worker; "
                            "dead peers' connections are kept until the system's keepalive")
            return armed
        await asyncio.sleep(0.05)
