"""The guard: who is calling, may they use this route, and may they now.

The Dispatcher consults one :class:`Guard` in both lanes before a route runs (only
routes that declare a scope; /health, /ready and /openapi.json declare none):

1. the key (``Authorization: Bearer <key>`` or ``X-API-Key``), checked against the
   key ring in memory (a dict lookup for a key checked lately, else an HMAC and a
   lookup; never the database on the hit path). API_KEYS_MODE ``off`` ignores
   keys; ``optional`` lets callers without one use the anonymous scopes at the
   anonymous limits; ``required`` refuses them (401 with ``WWW-Authenticate``). A key
   without the route's scope is a 403.
2. the rate limit: per key (its own limits, else the key defaults), per client
   address for anonymous callers (IPv6 by /64, since one host usually has a whole
   /64; behind trusted proxies the address is taken from X-Forwarded-For), at the
   route's cost (``Route.cost``: 1, or computed, e.g. by JSON-RPC method for /rpc).

A key the ring does not hold (only when there are more active keys than it holds)
is looked up in the database on the full path, paid for first from the caller's
anonymous allowance, so random keys cannot become a flood of queries.

``admit_now`` decides synchronously or says DEFER (the key is not in the ring yet,
or the caller's lease is empty): the full path then awaits ``admit``. Refusals are
NodeErrors carrying their header fields (WWW-Authenticate, Retry-After, RateLimit
and RateLimit-Policy as in draft-ietf-httpapi-ratelimit-headers-10).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from ..apikeys import KeyRecord
from ..errors import (
    AuthenticationError,
    AuthorizationError,
    LimiterUnavailable,
    NodeError,
    RateLimitError,
)
from ..observability import NodeMetrics
from ..security import DEFER, NOT_HELD, Deferred, KeyRing, Policy, RateLimiter, Refusal
from .http import Request
from .routing import Route

__all__ = ["DEFER", "Guard", "GuardConfig", "client_address", "hop_address", "rate_limit_headers"]

KeysMode = Literal["off", "optional", "required"]
_ADDRESS_MEMO_MAX: Final = 10_000


@dataclass(frozen=True, slots=True)
class GuardConfig:
    keys_mode: KeysMode = "off"
    anonymous: Policy | None = None
    """Limits per address for callers without a key; None: unlimited."""
    key_default: Policy | None = None
    """Limits of a key that sets none of its own; None: unlimited."""
    anonymous_scopes: frozenset[str] = frozenset({"validate", "rpc", "history"})
    """Scopes callers without a key may use (API_KEYS_MODE=optional)."""
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    realm: str = "bizra-node"
    keys_off_scopes: frozenset[str] = field(default=frozenset(
        {"validate", "rpc", "history", "metrics"}))
    """With API_KEYS_MODE=off, every scope is open."""


def rate_limit_headers(policy: Policy, retry_after: float) -> tuple[tuple[str, str], ...]:
    """Retry-After and the draft's RateLimit-Policy / RateLimit fields of a refusal."""
    wait = max(math.ceil(retry_after), 1)
    name = policy.name
    return (("retry-after", str(wait)),
            ("ratelimit-policy", f'"{name}";q={policy.burst};w={policy.window}'),
            ("ratelimit", f'"{name}";r=0;t={wait}'))


def _normalise(host: str) -> str:
    """The caller id of an address: IPv4 as is, IPv6 by its /64 (IPv4-mapped ones as
    the IPv4 address)."""
    if ":" not in host:
        return host
    text = host.strip("[]").split("%", 1)[0]
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return host[:64]
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return f"{ipaddress.IPv6Network((addr, 64), strict=False).network_address}/64"


_MAX_HOPS: Final = 32
"""X-Forwarded-For elements read, from the right (a longer chain is cut on its left)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def hop_address(text: str) -> IPAddress | None:
    """The address of one X-Forwarded-For element, or None for anything else: ``1.2.3.4``,
    ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]`` and ``[2001:db8::1]:443`` (some
    proxies add the port); empty elements, names, ``unknown`` and garbage are None."""
    text = text.strip()
    if not text:
        return None
    if text[0] == "[":
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and not text[end + 1:].startswith(":")):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port (a bare IPv6 has two colons at least)
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer: str, forwarded: str | Sequence[str] | None,
                   trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The address a request comes from: the peer, or, when the peer is a trusted proxy,
    the right-most X-Forwarded-For element that is not one. ``forwarded`` is the header's
    value, or every line of it in the order received (a client may send a line of its own
    before its proxy's: the lines are one list, as RFC 9110 says repeated fields are). An
    element that is not an address where the client's should be gives the peer: the
    proxy is the best we know; never an error."""
    nets = tuple(trusted)
    if not nets or not forwarded:
        return peer
    text = forwarded if isinstance(forwarded, str) else ",".join(forwarded)

    def is_trusted(addr: IPAddress) -> bool:
        return any(addr in net for net in nets)

    peer_addr = hop_address(peer)
    if peer_addr is None or not is_trusted(peer_addr):
        return peer
    hops = text.split(",")
    if len(hops) > _MAX_HOPS:
        hops = hops[-_MAX_HOPS:]
    first: IPAddress | None = None
    for hop in reversed(hops):
        if not hop.strip():
            continue  # an empty element ("a,,b", a trailing comma) says nothing
        addr = hop_address(hop)
        if addr is None:
            return peer  # a malformed hop where the client should be: the proxy it is
        if not is_trusted(addr):
            return str(addr)
        first = addr
    return str(first) if first is not None else peer  # every hop a trusted proxy


class Guard:
    def __init__(self, config: GuardConfig, metrics: NodeMetrics, *,
                 ring: KeyRing | None = None, limiter: RateLimiter | None = None) -> None:
        if config.keys_mode != "off" and ring is None:
            raise ValueError("API keys are on but there is no key ring")
        self.config = config
        self._keys = config.keys_mode != "off"
        self._required = config.keys_mode == "required"
        self._ring = ring
        self._recent: dict[str, KeyRecord] = ring.recent if ring is not None else {}
        self._note_use = ring.used_ids.add if ring is not None else (lambda _id: None)
        # keys on: a key's own rate may need the limiter even with no default policy
        self._limiter = limiter if (config.anonymous or config.key_default
                                    or config.keys_mode != "off") else None
        self._check_now = self._limiter.check_now if self._limiter is not None else None
        self._anon = config.anonymous if self._limiter is not None else None
        self._anonymous_scopes = (config.anonymous_scopes if self._keys
                                  else config.keys_off_scopes)
        self._failures = metrics.auth_failures
        self._failures.preset(("missing",), ("invalid",), ("scope",))
        self._key_state: dict[int, tuple[KeyRecord, Policy | None, str]] = {}
        """key id -> (the record it was made for, its policy, its caller id)."""
        self._callers: dict[str, str] = {}
        """peer address -> caller id (bounded memo)."""
        self._trusted = config.trusted_proxies

    # --- the synchronous lane ---------------------------------------------------------------
    def admit_now(self, req: Request, route: Route) -> NodeError | Deferred | None:
        """None: admitted; a NodeError: refused; DEFER: await :meth:`admit`."""
        if self._keys:
            token = self._token(req)
            if token is not None:
                record = self._recent.get(token)
                if record is None:
                    assert self._ring is not None
                    record = self._ring.find_now(token)
                    if record is NOT_HELD:
                        return DEFER
                return self._keyed(req, route, record)
        return self._anonymous(req, route)

    # --- the full path ------------------------------------------------------------------------
    async def admit(self, req: Request, route: Route) -> None:
        """Returns when admitted; raises the refusal."""
        token = self._token(req) if self._keys else None
        if token is not None:
            ring = self._ring
            assert ring is not None
            if ring.find_now(token) is NOT_HELD:
                await self._pay_lookup(req)
            refusal = self._keyed(req, route, await ring.find(token))
        else:
            refusal = self._anonymous(req, route)
        if refusal is DEFER:  # _spend set the caller, its policy and the cost
            policy = req.policy
            assert self._limiter is not None and policy is not None
            verdict = await self._limiter.check(req.caller, policy, req.cost)
            refusal = None if verdict is None else _refusal(verdict, req.cost)
        if refusal is not None:
            raise refusal

    def token(self, req: Request) -> str | None:
        """The key ``req`` presents (None: none; "" an unreadable one), when keys are on."""
        return self._token(req) if self._keys else None

    # --- steps ----------------------------------------------------------------------------------
    def _token(self, req: Request) -> str | None:
        header = req.header
        auth = header("authorization")
        if auth is not None:
            if auth.startswith("Bearer ") and " " not in auth[7:] and len(auth) > 7:
                return auth[7:]  # the usual form, without the general parse below
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""  # present but not a bearer token: an invalid credential
        key = header("x-api-key")
        if key is not None:
            return key.strip()
        present = req.has_header
        if present is not None and (present("authorization") or present("x-api-key")):
            return ""  # sent, but not readable (not visible ASCII): an invalid credential
        return None

    def _keyed(self, req: Request, route: Route,
               record: KeyRecord | None) -> NodeError | Deferred | None:
        if record is None:
            self._failures.inc(("invalid",))
            return AuthenticationError("the API key is not valid (unknown or revoked)",
                                       {"reason": "invalid_key"}, realm=self.config.realm)
        scope = route.scope
        if scope not in record.scopes:
            self._failures.inc(("scope",))
            return AuthorizationError(f"this API key may not use {route.label}",
                                      {"reason": "missing_scope", "scope": scope})
        self._note_use(record.id)
        state = self._key_state.get(record.id)
        if state is None or state[0] is not record:
            state = self._state_of(record)
        policy = state[1]
        if policy is None:
            return None
        return self._spend(req, route, state[2], policy)

    def _anonymous(self, req: Request, route: Route) -> NodeError | Deferred | None:
        if self._required or route.scope not in self._anonymous_scopes:
            return self._missing(route)
        policy = self._anon
        if policy is None:
            return None
        caller = None if self._trusted else self._callers.get(req.client)
        if caller is None:
            caller = self._caller(req)
        return self._spend(req, route, caller, policy)

    def _spend(self, req: Request, route: Route, caller: str,
               policy: Policy) -> NodeError | Deferred | None:
        cost = route.cost
        if type(cost) is not int:
            cost = cost(req)  # type: ignore[operator]
        verdict = self._check_now(caller, policy, cost)  # type: ignore[misc]
        if verdict is None:
            return None
        req.caller = caller  # for the full path's await
        req.policy = policy
        req.cost = cost
        if verdict is DEFER:
            return DEFER
        return _refusal(verdict, cost)

    async def _pay_lookup(self, req: Request) -> None:
        """A key the ring does not hold costs a database query: it is paid from the
        caller's address allowance first (one unit), so random keys cannot turn into a
        query flood (only when the ring holds fewer keys than the table)."""
        policy = self._anon
        if policy is None or self._limiter is None:
            return
        caller = self._caller(req)
        verdict = self._limiter.check_now(caller, policy, 1)
        if verdict is DEFER:
            verdict = await self._limiter.check(caller, policy, 1)
        if verdict is not None:
            raise _refusal(verdict, 1)

    def _missing(self, route: Route) -> NodeError:
        self._failures.inc(("missing",))
        if self._required:
            return AuthenticationError("an API key is required (Authorization: Bearer <key> "
                                       "or X-API-Key)", {"reason": "missing_key"},
                                       realm=self.config.realm)
        return AuthenticationError(f"{route.label} needs an API key with scope {route.scope}",
                                   {"reason": "missing_key", "scope": route.scope},
                                   realm=self.config.realm)

    def _state_of(self, record: KeyRecord) -> tuple[KeyRecord, Policy | None, str]:
        default = self.config.key_default
        if record.rate is None and record.burst is None:
            policy = default
        else:
            rate = record.rate if record.rate is not None else (
                default.rate if default is not None else float(record.burst or 1))
            burst = record.burst if record.burst is not None else (
                default.burst if default is not None else max(int(rate), 1))
            policy = Policy("key", rate, burst)
        if self._limiter is None:
            policy = None
        if len(self._key_state) > 100_000:
            self._key_state.clear()
        state = self._key_state[record.id] = (record, policy, f"k:{record.id}")
        return state

    def _caller(self, req: Request) -> str:
        """The caller id of an anonymous request (memoised by the peer as given, so a
        keep-alive connection's requests cost one dict lookup)."""
        peer = req.client
        memo = self._callers
        if self._trusted:
            forwarded = _forwarded_for(req)
            key = peer if not forwarded else f"{peer}|{forwarded}"
            caller = memo.get(key)
            if caller is None:
                caller = "a:" + _normalise(client_address(peer.rpartition(":")[0], forwarded,
                                                          self._trusted))
                if len(key) <= 512:  # a proxy's connection carries the same clients again
                    if len(memo) >= _ADDRESS_MEMO_MAX:
                        memo.clear()
                    memo[key] = caller
            return caller
        caller = memo.get(peer)
        if caller is None:
            if len(memo) >= _ADDRESS_MEMO_MAX:
                memo.clear()
            caller = memo[peer] = "a:" + _normalise(peer.rpartition(":")[0])
        return caller


def _forwarded_for(req: Request) -> str | None:
    """Every X-Forwarded-For line, in order, joined into one list (``header`` alone gives
    the first line only, granian's ``get`` and a dict alike)."""
    lines = req.header_all("x-forwarded-for") if req.header_all is not None else None
    if lines is None:
        return req.header("x-forwarded-for")
    if len(lines) < 2:
        return lines[0] if lines else None
    return ",".join(lines)


def _refusal(verdict: Refusal, cost: int) -> NodeError:
    policy = verdict.policy
    if verdict.reason == "limiter_unavailable":
        return LimiterUnavailable("the rate limiter is unavailable; try again shortly",
                                  {"reason": "rate_limiter_unavailable"},
                                  retry_after=max(math.ceil(verdict.retry_after), 1))
    if verdict.reason == "cost_exceeds_burst":
        return RateLimitError(f"this request costs {cost} units, more than the {policy.burst} "
                              "this caller may ever spend at once; send smaller batches",
                              {"reason": "cost_exceeds_burst", "cost": cost,
                               "burst": policy.burst, "policy": policy.name})
    return RateLimitError("rate limit exceeded", {
        "reason": "rate_limited", "policy": policy.name, "cost": cost,
        "retryAfter": max(math.ceil(verdict.retry_after), 1)},
        headers=rate_limit_headers(policy, verdict.retry_after))
