"""One upstream JSON-RPC node behind a keep-alive aiohttp connection pool."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import UpstreamError
from ..jsonrpc import Call
from .codec import decode_batch, decode_single, encode_batch, encode_single

__all__ = ["Upstream", "redact_url"]

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def redact_url(url: str) -> str:
    """The URL without user, password or query (API keys often live there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class Upstream:
    """Sends calls to one URL. Raises :class:`UpstreamError` with a ``kind`` on any
    transport trouble, so the pool above can retry, fail over or open a breaker:
    connect (never sent), disconnect (dropped after sending), timeout, http,
    malformed, too_large (the body passed ``max_response`` bytes: refused while it
    was read, before any parsing; a Content-Length past it is refused unread)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, timeout: float,
                 connect_timeout: float, use_batch: bool = True, sequential: bool = False,
                 name: str | None = None, max_response: int = 32 * 1024 * 1024) -> None:
        self.url = url
        self.max_response = max_response
        self.name = name or redact_url(url)
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.supports_batch = use_batch and not sequential
        self.sequential = sequential
        """One call per round trip, in order (Harness.rpc_sequential: how the system
        this node replaced called its upstreams, the performance suite's 'before'
        baseline)."""

    async def _post(self, body: bytes, timeout: float | None) -> bytes:
        tmo = self._timeout if timeout is None else aiohttp.ClientTimeout(
            total=min(timeout, self._timeout.total or timeout),
            sock_connect=self._timeout.sock_connect)
        try:
            async with self._session.post(self.url, data=body, headers=_JSON_HEADERS,
                                          timeout=tmo) as resp:
                payload = await self._body(resp)
                if resp.status >= 400:
                    raise UpstreamError(
                        f"upstream answered HTTP {resp.status}", kind="http",
                        upstream=self.name, retryable=resp.status in _RETRYABLE_HTTP,
                        retry_after=_retry_after(resp.headers),
                        details={"status": resp.status})
                return payload
        except UpstreamError:
            raise
        except TimeoutError:
            raise UpstreamError("upstream timed out", kind="timeout", upstream=self.name) from None
        except aiohttp.ClientConnectorError:
            # The connection was never made: the request provably did not arrive.
            raise UpstreamError("upstream refused the connection", kind="connect",
                                upstream=self.name) from None
        except (aiohttp.ClientError, OSError) as exc:
            # Dropped mid-exchange: the upstream may have received (and acted on) it.
            raise UpstreamError(f"upstream connection failed: {type(exc).__name__}",
                                kind="disconnect", upstream=self.name) from None

    async def _body(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body, read in chunks and given up on as soon as it passes
        ``max_response`` bytes (decompressed); leaving the response unread closes the
        connection instead of draining it."""
        limit = self.max_response
        length = resp.content_length
        if length is not None:
            if length > limit:
                raise self._too_large(f"announced {length} bytes; not read")
            if "Content-Encoding" not in resp.headers:
                return await resp.read()  # the parser stops at Content-Length
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise self._too_large(f"cut off after {size} bytes read; the rest not read")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, how: str) -> UpstreamError:
        return UpstreamError(
            f"upstream answer larger than UPSTREAM_MAX_RESPONSE_BYTES ({self.max_response} "
            f"bytes): {how}", kind="too_large", upstream=self.name,
            details={"limit": self.max_response})

    async def call(self, call: Call, timeout: float | None = None) -> Any:
        """Result of one call, or an RpcError value."""
        return decode_single(await self._post(encode_single(call), timeout), self.name)

    async def batch(self, calls: list[Call], timeout: float | None = None) -> list[Any]:
        """Results of several calls in one round trip (a JSON-RPC batch), in call order.

        An upstream that refuses batches is remembered and asked with concurrent
        single calls from then on.
        """
        if len(calls) == 1:
            return [await self.call(calls[0], timeout)]
        if self.sequential:
            return [await self.call(c, timeout) for c in calls]
        if self.supports_batch:
            try:
                return decode_batch(await self._post(encode_batch(calls), timeout),
                                    len(calls), self.name)
            except UpstreamError as exc:
                if exc.kind != "batch_refused":
                    raise
                self.supports_batch = False
        # A TaskGroup, not gather: when one call fails the others are cancelled
        # instead of running on as orphan tasks.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.call(c, timeout)) for c in calls]
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None
        return [t.result() for t in tasks]
