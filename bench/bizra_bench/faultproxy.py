"""A fault-injecting HTTP proxy for JSON-RPC upstreams (asyncio, real sockets).

Sits in front of a real node (anvil) on a loopback port and, by rule and probability,
adds latency, drops connections, answers HTTP 5xx (with Retry-After), sends
malformed JSON, answers JSON-RPC error objects, or stalls until the client gives up.
Rules can be changed while it runs; counters say what it saw and did, so tests assert
on counts instead of timings. Used by tests (tests/integration/chain) and by
``bizra-node bench chaos``.

The HTTP/1.1 server side is written on ``asyncio.start_server`` (keep-alive,
Content-Length bodies: what aiohttp clients send) so that a dropped connection is a
real reset and a stall is a real silent socket. Forwarding uses aiohttp.

Run alone (``python -m bizra_bench.faultproxy TARGET --latency 0.05``; ``bench suite``
does, so the proxy has a process of its own), it prints ``listening <url>`` and
answers ``GET /_faultproxy/stats`` and ``POST /_faultproxy/reset`` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson

__all__ = ["HEAD_CALLS", "Fault", "FaultKind", "FaultProxy", "head_only"]

FaultKind = Literal["latency", "drop", "http", "malformed", "rpc_error", "stall"]

_REASONS = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Fault:
    """One rule. Rules are tried in order; each fires with ``probability``. A latency
    rule delays and goes on to the next rule; any other kind decides the answer."""

    kind: FaultKind
    probability: float = 1.0
    latency: float = 0.0
    """Seconds added (kind='latency')."""
    status: int = 503
    """HTTP status (kind='http')."""
    retry_after: float | None = None
    """Retry-After header, seconds (kind='http')."""
    rpc_code: int = -32603
    rpc_message: str = "internal error (injected)"
    methods: frozenset[str] | None = None
    """Only requests that contain one of these methods; None = all."""
    stall: float = 3600.0
    """How long a stall lasts at most; it ends early when the client hangs up."""


def _methods(body: bytes) -> set[str]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return set()
    items = doc if isinstance(doc, list) else [doc]
    return {str(i.get("method")) for i in items if isinstance(i, dict)}


def _call_names(body: bytes) -> list[str]:
    """Method of each call in a request; eth_getBlockByNumber by a tag (latest,
    finalized...) is counted apart from by a number: ``eth_getBlockByNumber:<tag>``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    out = []
    for item in doc if isinstance(doc, list) else [doc]:
        if not isinstance(item, dict):
            continue
        method = str(item.get("method"))
        params = item.get("params")
        if method == "eth_getBlockByNumber" and isinstance(params, list) and params \
                and isinstance(params[0], str) and not params[0].startswith("0x"):
            method = f"{method}:{params[0]}"
        out.append(method)
    return out


HEAD_CALLS = frozenset({"eth_blockNumber", "eth_getBlockByNumber:latest",
                        "eth_getBlockByNumber:safe", "eth_getBlockByNumber:finalized",
                        "eth_getBlockByNumber:pending"})
"""Calls that only ask where the head is (the node's head follower and head probes poll
these on their own clock, whatever the clients ask)."""


def head_only(names: list[str]) -> bool:
    """A request whose every call only asks where the head is."""
    return bool(names) and all(n in HEAD_CALLS for n in names)


def _rpc_errors(body: bytes, code: int, message: str) -> bytes:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = {}
    err = {"code": code, "message": message}
    if isinstance(doc, list):
        return orjson.dumps([{"jsonrpc": "2.0", "id": i.get("id") if isinstance(i, dict) else None,
                              "error": err} for i in doc])
    return orjson.dumps({"jsonrpc": "2.0", "id": doc.get("id") if isinstance(doc, dict) else None,
                         "error": err})


class FaultProxy:
    """``async with FaultProxy(target) as proxy:`` (or start()/stop()); ``proxy.url``
    is what the node is pointed at."""

    def __init__(self, target: str, *, port: int = 0, faults: Iterable[Fault] = (),
                 seed: int | None = None, name: str = "", count_calls: bool = False) -> None:
        self.target = target
        self.port = port
        self.name = name or target
        self.faults: list[Fault] = list(faults)
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.received = 0
        self.head_only = 0
        """Requests (of ``received``) that only asked where the head is (:func:`head_only`)."""
        """Requests read from clients."""
        self.forwarded = 0
        """Requests the target answered through us."""
        self.backend_errors = 0
        """Requests the target could not answer (answered 502)."""
        self.injected: Counter[str] = Counter()
        """Faults applied, by kind."""
        self.connections = 0
        """Client connections accepted (a client without keep-alive opens one per call)."""
        self.count_calls = count_calls
        self.calls: Counter[str] = Counter()
        """JSON-RPC calls received, by method (with ``count_calls``; each call of a batch)."""

    # --- control ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_faults(self, *faults: Fault) -> None:
        self.faults = list(faults)

    def clear(self) -> None:
        self.faults = []

    def reset_counts(self) -> None:
        self.received = self.forwarded = self.backend_errors = self.connections = 0
        self.head_only = 0
        self.injected.clear()
        self.calls.clear()

    async def start(self) -> FaultProxy:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), skip_auto_headers=("User-Agent",))
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self, *, keep_session: bool = False) -> None:
        """Stop listening and cut every open connection (clients see resets, new
        connections are refused). ``start()`` again listens on the same port."""
        if self._server is not None:
            self._server.close()
            self._server = None
        conns = list(self._conns)
        for task in conns:
            task.cancel()
        if conns:
            await asyncio.gather(*conns, return_exceptions=True)
        if not keep_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- serving -----------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                length = 0
                keep_alive = True
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    lname = name.strip().lower()
                    if lname == b"content-length":
                        length = int(value.strip() or 0)
                    elif lname == b"connection" and value.strip().lower() == b"close":
                        keep_alive = False
                body = await reader.readexactly(length) if length else b""
                if head.startswith((b"GET /_faultproxy/", b"POST /_faultproxy/")):
                    answer: tuple[int, bytes, list[str]] | None = self._control(head)
                else:
                    self.received += 1
                    names = _call_names(body)
                    if head_only(names):
                        self.head_only += 1
                    if self.count_calls:
                        self.calls.update(names)
                    answer = await self._answer(body, reader)
                if answer is None:  # drop: a hard reset, no answer
                    writer.transport.abort()
                    return
                status, payload, headers = answer
                lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                         "Content-Type: application/json", f"Content-Length: {len(payload)}",
                         *headers]
                if not keep_alive:
                    lines.append("Connection: close")
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
                await writer.drain()
                if not keep_alive:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._conns.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _client_gone(self, reader: asyncio.StreamReader, seconds: float) -> bool:
        """Wait ``seconds``; True if the client hung up meanwhile (it sends nothing
        more on this connection until it has an answer, so a read returns only at
        EOF)."""
        try:
            async with asyncio.timeout(seconds):
                data = await reader.read(1)
        except TimeoutError:
            return False
        return not data

    async def _answer(self, body: bytes, reader: asyncio.StreamReader
                      ) -> tuple[int, bytes, list[str]] | None:
        methods: set[str] | None = None
        for fault in list(self.faults):
            if fault.methods is not None:
                if methods is None:
                    methods = _methods(body)
                if not methods & fault.methods:
                    continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            self.injected[fault.kind] += 1
            kind = fault.kind
            if kind == "latency":
                if await self._client_gone(reader, fault.latency):
                    return None
                continue
            if kind == "drop":
                return None
            if kind == "http":
                headers = [] if fault.retry_after is None else [f"Retry-After: {fault.retry_after:g}"]
                return fault.status, b'{"error":"injected"}', headers
            if kind == "malformed":
                return 200, b'{"jsonrpc":"2.0","id":0,"result":', []
            if kind == "rpc_error":
                return 200, _rpc_errors(body, fault.rpc_code, fault.rpc_message), []
            if kind == "stall":
                await self._client_gone(reader, fault.stall)
                return None
        return await self._forward(body)

    async def _forward(self, body: bytes) -> tuple[int, bytes, list[str]]:
        assert self._session is not None
        try:
            async with self._session.post(self.target, data=body,
                                          headers={"Content-Type": "application/json"},
                                          timeout=aiohttp.ClientTimeout(total=30)) as resp:
                payload = await resp.read()
                self.forwarded += 1
                return resp.status, payload, []
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.backend_errors += 1
            return 502, b'{"error":"bad gateway"}', []

    def _control(self, head: bytes) -> tuple[int, bytes, list[str]]:
        if head.startswith(b"POST /_faultproxy/reset"):
            self.reset_counts()
        return 200, orjson.dumps(self.stats()), []

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "headOnly": self.head_only,
                "forwarded": self.forwarded,
                "backendErrors": self.backend_errors, "injected": dict(self.injected),
                "connections": self.connections, "calls": dict(self.calls)}


async def _main(argv: list[str] | None = None) -> None:  # pragma: no cover - a process of its own
    parser = argparse.ArgumentParser(prog="python -m bizra_bench.faultproxy")
    parser.add_argument("target")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each call")
    parser.add_argument("--count-calls", action="store_true")
    args = parser.parse_args(argv)
    faults = [Fault("latency", latency=args.latency)] if args.latency > 0 else []
    proxy = await FaultProxy(args.target, port=args.port, faults=faults,
                             count_calls=args.count_calls).start()
    print(f"listening {proxy.url} -> {proxy.target}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())
