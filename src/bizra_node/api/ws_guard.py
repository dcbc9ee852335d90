"""The guard on WebSocket connections: the same one HTTP calls pass (guard.py), applied
to the upgrade and then to every message.

- The upgrade: its Origin, when RPC_CORS_ORIGINS is set, must be one of them (a
  browser always sends one; other clients usually send none and are not asked for
  one); then the key (``Authorization: Bearer``, ``X-API-Key``, or, since a browser's
  ``WebSocket`` cannot set headers, the query parameter ``api_key``; a header wins
  over the query) with scope ``rpc``, and one unit of the caller's rate limit. A
  refusal is an HTTP answer before the upgrade (401, 403, 429, 503) where the server
  interface can give one, else a close (1008) with the reason.
- Each message: the same key, scope and limit, at the cost its calls would have on
  /rpc over HTTP (a batch: the sum). A message over the limit is answered with the
  JSON-RPC error -32005 (one per call, with its id, so clients can match it) and the
  connection stays; the connection then reads its next message no sooner than the
  limit refills, so a flood is read at the caller's rate, not the network's. A key
  that stopped being valid closes the connection with 1008.
- A revocation closes every connection of that key at once: the key ring tells its
  listeners when it changed (a Redis key event, at once; else its periodic refresh,
  API_KEYS_REFRESH) and each open keyed connection is checked again.

The key given in the query string is taken out of it here and never logged; a proxy
in front may log request lines, so a header is the better way where the client can
set one (every non-browser client can).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from ..errors import AuthenticationError, AuthorizationError, NodeError, RateLimitError
from ..security import NOT_HELD, Deferred, KeyRing
from .cors import CorsPolicy
from .guard import DEFER, Guard
from .http import Request, Response
from .routing import Cost, Route
from .rpc import error_bytes

if TYPE_CHECKING:
    from .ws import RpcSocket

__all__ = ["CLOSE_POLICY", "QUERY_KEY", "Caller", "SocketGuard", "WsRefusal", "closes"]

CLOSE_POLICY: Final = 1008
"""Close code of a connection refused or ended by the guard ("policy violation")."""
QUERY_KEY: Final = "api_key"
"""The query parameter a browser presents its key in (``ws://node/rpc?api_key=...``)."""
_CREDENTIALS: Final = ("authorization", "x-api-key")


async def _never(req: Request) -> Response:  # pragma: no cover - routes only for the guard
    raise AssertionError("the WebSocket guard's routes are never dispatched")


@dataclass(frozen=True, slots=True)
class WsRefusal:
    """An upgrade refused: the HTTP answer before the upgrade, or, where the server
    interface cannot give one, the close code and reason."""

    status: int
    reason: str
    """At most 123 bytes (what a close frame can carry)."""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    code: int = CLOSE_POLICY


@dataclass(slots=True)
class Caller:
    """Who is on one connection, as the guard needs to see each message: the header
    fields it reads, taken once from the upgrade."""

    fields: dict[str, str]
    client: str
    token: str | None = None
    """The key presented (None: anonymous)."""
    _req: Request | None = None

    def request(self, doc: Any) -> Request:
        """The request the guard sees for a message: one per connection, reset for each
        (its messages are checked one at a time; ~0.5 us saved a message)."""
        req = self._req
        if req is None:
            fields = self.fields
            req = self._req = Request("GET", "/rpc", "", fields.get, b"", "",
                                      client=self.client, has_header=fields.__contains__)
        req.input = doc
        req.admitted = False
        req.cost = 1
        req.policy = None
        return req


class SocketGuard:
    def __init__(self, guard: Guard | None, cors: CorsPolicy | None, cost: Cost,
                 ring: KeyRing | None = None) -> None:
        self._guard = guard
        self._cors = cors if cors is not None and cors.enabled else None
        self._ring = ring
        self._messages = Route("/rpc", ("GET",), _never, scope="rpc", cost=cost)
        self._upgrades = Route("/rpc", ("GET",), _never, scope="rpc", cost=1)
        self._keyed: dict[RpcSocket, str] = {}
        """Open connections with a key -> their key (checked again when the ring changes)."""
        if ring is not None:
            ring.add_listener(self._keys_changed)

    @property
    def active(self) -> bool:
        """Whether messages are checked at all (keys or limits on)."""
        return self._guard is not None

    # --- the upgrade ------------------------------------------------------------------
    def caller(self, header: Callable[[str], str | None], query: str, client: str,
               has_header: Callable[[str], bool] | None = None,
               header_all: Callable[[str], list[str]] | None = None) -> Caller:
        """What the guard will read on this connection: its credentials (headers, else
        the query parameter) and X-Forwarded-For, every line."""
        fields: dict[str, str] = {}
        for name in _CREDENTIALS:
            value = header(name)
            if value is None and has_header is not None and has_header(name):
                value = ""  # sent but unreadable: an invalid credential, as on HTTP
            if value is not None:
                fields[name] = value
        if not fields and query and QUERY_KEY in query:
            for name, value in parse_qsl(query, keep_blank_values=True):
                if name == QUERY_KEY:
                    fields["x-api-key"] = value
                    break
        lines = header_all("x-forwarded-for") if header_all is not None else None
        forwarded = ",".join(lines) if lines else header("x-forwarded-for")
        if forwarded:
            fields["x-forwarded-for"] = forwarded
        return Caller(fields, client)

    def origin_refused(self, origin: str | None) -> WsRefusal | None:
        """A browser's page from an origin RPC_CORS_ORIGINS does not list may not open a
        socket (browsers do not apply CORS to WebSockets: the server must check)."""
        if self._cors is None or origin is None or self._cors.allow_origin(origin):
            return None
        return WsRefusal(403, "origin not allowed",
                         b'{"jsonrpc":"2.0","id":null,"error":{"code":-32003,'
                         b'"message":"origin not allowed"}}')

    async def admit_upgrade(self, caller: Caller) -> WsRefusal | None:
        """None: open the connection; else the refusal (the upgrade costs one unit)."""
        guard = self._guard
        if guard is None:
            return None
        req = caller.request(None)
        refused = self._check_now(req, self._upgrades)
        if refused is DEFER:
            refused = await self._check(req, self._upgrades)
        if refused is not None:
            return WsRefusal(refused.http_status, _reason(refused),
                             _refusal_body(refused), tuple(refused.headers))
        caller.token = guard.token(req)
        return None

    # --- each message ---------------------------------------------------------------
    def check_now(self, caller: Caller, doc: Any) -> tuple[NodeError | Deferred | None, Request]:
        """(None: admitted, a refusal, or DEFER: await :meth:`check`; the request) for
        one message, decoded (``doc``: what its cost is computed from)."""
        req = caller.request(doc)
        return self._check_now(req, self._messages), req

    async def check(self, req: Request) -> NodeError | None:
        return await self._check(req, self._messages)

    def _check_now(self, req: Request, route: Route) -> NodeError | Deferred | None:
        assert self._guard is not None
        try:
            return self._guard.admit_now(req, route)
        except NodeError as exc:
            return exc

    async def _check(self, req: Request, route: Route) -> NodeError | None:
        assert self._guard is not None
        try:
            await self._guard.admit(req, route)
        except NodeError as exc:
            return exc
        return None

    # --- revocations ------------------------------------------------------------------
    def opened(self, socket: RpcSocket, caller: Caller) -> None:
        if caller.token is not None and self._ring is not None:
            self._keyed[socket] = caller.token

    def closed(self, socket: RpcSocket) -> None:
        self._keyed.pop(socket, None)

    def _keys_changed(self) -> None:
        """The ring changed (a key revoked, added or edited): every open keyed
        connection whose key is no longer valid for ``rpc`` is closed (1008). A key the
        ring cannot tell about (it holds only the most used keys) is checked at its
        connection's next message."""
        ring = self._ring
        if ring is None or not self._keyed:
            return
        verdicts: dict[str, bool] = {}
        for socket, token in list(self._keyed.items()):
            valid = verdicts.get(token)
            if valid is None:
                record = ring.find_now(token)
                valid = verdicts[token] = record is NOT_HELD or (
                    record is not None and "rpc" in record.scopes)
            if not valid:
                self._keyed.pop(socket, None)
                socket.close(CLOSE_POLICY, "API key revoked")


def _reason(exc: NodeError) -> str:
    if isinstance(exc, AuthenticationError):
        return "API key missing or invalid"
    if isinstance(exc, AuthorizationError):
        return "API key without scope rpc"
    if isinstance(exc, RateLimitError):
        return "rate limit exceeded"
    return exc.message[:120]


def _refusal_body(exc: NodeError) -> bytes:
    return error_bytes(None, exc.jsonrpc_code, exc.message, exc.details)


def closes(exc: NodeError) -> bool:
    """Whether a refused message ends its connection (its key is no longer good)."""
    return isinstance(exc, AuthenticationError | AuthorizationError)
