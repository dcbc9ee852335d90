"""Slow clients, as an attacker runs them: many connections that each hold the server
as long as it lets them, and come back at once when it closes them.

Kinds: ``idle`` (connects, sends nothing), ``headers`` (a header line, then a byte a
second, never ending the headers), ``body`` (headers with Content-Length 100, then a
byte a second), ``chunked`` (a chunked body, a one-byte chunk a second). Run as
``python -m bizra_bench.slowclients URL --idle N --headers N --body N --chunked N``
in a process of its own (so that it does not slow the client that measures), until
SIGINT/SIGTERM; then it prints one JSON line: connections opened per kind, and how
many the server closed (the rest were still open at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from urllib.parse import urlsplit

__all__ = ["KINDS", "run_slow_clients"]

KINDS = ("idle", "headers", "body", "chunked")
_POST = (b"POST /api/v1/validate/transaction HTTP/1.1\r\nHost: node\r\n"
         b"Content-Type: application/json\r\n")


async def _hold(host: str, port: int, kind: str, stop: asyncio.Event,
                counts: dict[str, dict[str, int]]) -> None:
    mine = counts[kind]
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        mine["opened"] += 1
        try:
            if kind == "headers":
                writer.write(b"GET /health HTTP/1.1\r\nHost: node\r\n")
            elif kind == "body":
                writer.write(_POST + b"Content-Length: 100\r\n\r\n")
            elif kind == "chunked":
                writer.write(_POST + b"Transfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
            while not stop.is_set():
                try:  # wait a second for the server to close (or answer: a 408)
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    data = None
                if data is not None:  # an answer or EOF: the server let go
                    mine["closed"] += 1
                    break
                if kind == "headers":
                    writer.write(b"x")
                elif kind == "body":
                    writer.write(b"{")
                elif kind == "chunked":
                    writer.write(b"1\r\n{\r\n")
                if kind != "idle":
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            mine["closed"] += 1
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def run_slow_clients(url: str, per_kind: dict[str, int],
                           stop: asyncio.Event) -> dict[str, dict[str, int]]:
    """Hold ``per_kind[kind]`` connections of each kind until ``stop`` is set."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counts = {k: {"opened": 0, "closed": 0} for k in KINDS}
    tasks = []
    for kind, n in per_kind.items():
        for i in range(n):
            tasks.append(asyncio.create_task(_hold(host, port, kind, stop, counts)))
            if i % 100 == 99:
                await asyncio.sleep(0.01)  # do not flood the accept queue at once
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bizra_bench.slowclients")
    parser.add_argument("url")
    for kind in KINDS:
        parser.add_argument(f"--{kind}", type=int, default=0)
    args = parser.parse_args(argv)
    per_kind = {k: getattr(args, k) for k in KINDS}

    async def go() -> dict[str, dict[str, int]]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print("holding", flush=True)
        return await run_slow_clients(args.url, per_kind, stop)

    print(json.dumps(asyncio.run(go())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
