"""The beacon node's light-client API, over aiohttp (JSON answers).

Nothing a beacon node says is believed here: every answer is decoded into the
light-client containers (wire.py) and verified by the caller (sync.py). This module
only fetches, bounds what it reads, and turns transport trouble into
:class:`BeaconApiError` (as opposed to data that fails a check, a ConsensusError).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from .containers import (
    LightClientBootstrap,
    LightClientFinalityUpdate,
    LightClientOptimisticUpdate,
    LightClientUpdate,
)
from .forks import NetworkConfig
from .wire import decode_json

__all__ = ["MAX_REQUEST_LIGHT_CLIENT_UPDATES", "BeaconApi", "BeaconApiError"]

MAX_REQUEST_LIGHT_CLIENT_UPDATES = 128
"""The spec's limit of periods per updates request (and so of our pages)."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""A full page of mainnet updates is ~9 MB of JSON; more than this is refused."""


class BeaconApiError(Exception):
    """The beacon API could not be asked (unreachable, timeout, an HTTP error, not JSON)."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message
        self.status = status


class BeaconApi:
    """One beacon node's REST API. The session is the caller's (and closed by it)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, timeout: float = 10.0,
                 max_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"BeaconApi({self.url!r})"

    @property
    def shown(self) -> str:
        """The URL as logs may show it: scheme://host:port (a provider's key often sits
        in the path)."""
        return _shown_url(self.url)

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        try:
            async with self._session.get(url, params=params, timeout=self._timeout,
                                         headers={"accept": "application/json"}) as resp:
                body = await _read(url, resp.content, self._max_bytes)
                if resp.status != 200:
                    raise BeaconApiError(url, f"HTTP {resp.status}: {_message(body)}", resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BeaconApiError(url, f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BeaconApiError(url, "the answer is not JSON") from None

    async def bootstrap(self, config: NetworkConfig, block_root: bytes) -> LightClientBootstrap:
        answer = await self._get(f"/eth/v1/beacon/light_client/bootstrap/0x{block_root.hex()}")
        return decode_json(config, "bootstrap", answer)

    async def updates(self, config: NetworkConfig, start_period: int,
                      count: int) -> list[LightClientUpdate]:
        """The best update of each period from ``start_period``, at most ``count``
        (<= 128, the spec's limit per request)."""
        if not 1 <= count <= MAX_REQUEST_LIGHT_CLIENT_UPDATES:
            raise ValueError(f"count must be 1..{MAX_REQUEST_LIGHT_CLIENT_UPDATES}")
        answer = await self._get("/eth/v1/beacon/light_client/updates",
                                 {"start_period": str(start_period), "count": str(count)})
        if not isinstance(answer, list):
            raise BeaconApiError(self.url, "the updates answer is not a list")
        if len(answer) > count:
            raise BeaconApiError(self.url, f"{len(answer)} updates for {count} periods")
        return [decode_json(config, "update", item) for item in answer]

    async def finality_update(self, config: NetworkConfig) -> LightClientFinalityUpdate:
        answer = await self._get("/eth/v1/beacon/light_client/finality_update")
        return decode_json(config, "finality_update", answer)

    async def optimistic_update(self, config: NetworkConfig) -> LightClientOptimisticUpdate:
        answer = await self._get("/eth/v1/beacon/light_client/optimistic_update")
        return decode_json(config, "optimistic_update", answer)

    async def genesis(self) -> tuple[int, bytes]:
        """(genesis_time, genesis_validators_root): for a custom network only; the
        built-in networks' are constants."""
        answer = await self._get("/eth/v1/beacon/genesis")
        try:
            data = answer["data"]
            root = bytes.fromhex(str(data["genesis_validators_root"]).removeprefix("0x"))
            time_text = str(data["genesis_time"])
            if len(root) != 32 or not time_text.isascii() or not time_text.isdigit() \
                    or len(time_text) > 20:
                raise ValueError
            return int(time_text), root
        except (KeyError, TypeError, ValueError):
            raise BeaconApiError(self.url, "the genesis answer is malformed") from None

    async def spec(self) -> dict[str, object]:
        """The node's config (/eth/v1/config/spec): for a custom network's forks."""
        answer = await self._get("/eth/v1/config/spec")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise BeaconApiError(self.url, "the config answer is malformed")
        return data


async def _read(url: str, content: aiohttp.StreamReader, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes (``read(n)`` returns what has
    arrived, so it is read to the end in chunks)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise BeaconApiError(url, f"answer larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _message(body: bytes) -> str:
    """The beacon API's error message (``{"code", "message"}``), else the body's start."""
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            return str(parsed["message"])[:200]
    except orjson.JSONDecodeError:
        pass
    return body[:200].decode("utf-8", "replace")


def _shown_url(url: str) -> str:
    """scheme://host:port of ``url`` (no user, password, path or query)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
