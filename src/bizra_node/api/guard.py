"""The guard: who is calling, may they use this route, and may they now.

The Dispatcher consults one :class:`Guard` in both lanes before a route runs (only
routes that declare a scope; /health, /ready and /openapi.json declare none):

1. the key (``Authorization: Bearer <key>`` or ``X-API-Key``), checked against the
   key ring in memory (one HMAC, one dict lookup). API_KEYS_MODE ``off`` ignores
   keys; ``optional`` lets callers without one use the anonymous scopes at the
   anonymous limits; ``required`` refuses them (401 with ``WWW-Authenticate``). A key
   without the route's scope is a 403.
2. the rate limit: per key (its own limits, else the key defaults), per client
   address for anonymous callers (IPv6 by /64, since one host usually has a whole
   /64; behind trusted proxies the address is taken from X-Forwarded-For), at the
   route's cost (``Route.cost``: 1, or computed, e.g. by JSON-RPC method for /rpc).

``admit_now`` decides synchronously or says DEFER (the key is not in the ring yet,
or the caller's lease is empty): the full path then awaits ``admit``. Refusals are
NodeErrors carrying their header fields (WWW-Authenticate, Retry-After, RateLimit
and RateLimit-Policy as in draft-ietf-httpapi-ratelimit-headers-10).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from ..apikeys import KeyRecord
from ..errors import (
    AuthenticationError,
    AuthorizationError,
    LimiterUnavailable,
    NodeError,
    RateLimitError,
)
from ..observability import NodeMetrics
from ..security import DEFER, NOT_HELD, KeyRing, Policy, RateLimiter, Refusal
from .http import Request
from .routing import Route

__all__ = ["DEFER", "Guard", "GuardConfig", "client_address", "rate_limit_headers"]

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


def client_address(peer: str, forwarded: str | None,
                   trusted: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """The address a request comes from: the peer, or, when the peer is a trusted
    proxy, the right-most X-Forwarded-For entry that is not one."""
    nets = tuple(trusted)
    if not nets or not forwarded:
        return peer

    def is_trusted(text: str) -> bool:
        try:
            addr = ipaddress.ip_address(text.strip().strip("[]"))
        except ValueError:
            return False
        return any(addr in net for net in nets)

    if not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded.split(",")[-32:] if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return peer  # a malformed hop: the proxy is the best we know
    return hops[0] if hops else peer


class Guard:
    def __init__(self, config: GuardConfig, metrics: NodeMetrics, *,
                 ring: KeyRing | None = None, limiter: RateLimiter | None = None) -> None:
        if config.keys_mode != "off" and ring is None:
            raise ValueError("API keys are on but there is no key ring")
        self.config = config
        self._keys = config.keys_mode != "off"
        self._required = config.keys_mode == "required"
        self._ring = ring
        self._limiter = limiter if (config.anonymous or config.key_default) else None
        self._anonymous_scopes = (config.anonymous_scopes if self._keys
                                  else config.keys_off_scopes)
        self._failures = metrics.auth_failures
        self._key_policies: dict[int, tuple[KeyRecord, Policy | None]] = {}
        self._callers: dict[str, str] = {}
        self._trusted = config.trusted_proxies

    # --- the synchronous lane ---------------------------------------------------------------
    def admit_now(self, req: Request, route: Route) -> NodeError | None:
        """None: admitted; a NodeError: refused; DEFER: await :meth:`admit`."""
        token = self._token(req) if self._keys else None
        if token is not None:
            assert self._ring is not None
            record = self._ring.find_now(token)
            if record is NOT_HELD:
                return cast(NodeError, DEFER)
            return self._keyed(req, route, record, now=True)
        return self._anonymous(req, route, now=True)

    # --- the full path ------------------------------------------------------------------------
    async def admit(self, req: Request, route: Route) -> None:
        """Returns when admitted; raises the refusal."""
        token = self._token(req) if self._keys else None
        if token is not None:
            assert self._ring is not None
            record = await self._ring.find(token)
            refusal = self._keyed(req, route, record, now=False)
        else:
            refusal = self._anonymous(req, route, now=False)
        if refusal is DEFER:
            refusal = await self._limit_later(req, route)
        if refusal is not None:
            raise refusal

    # --- steps ----------------------------------------------------------------------------------
    def _token(self, req: Request) -> str | None:
        header = req.header
        auth = header("authorization")
        if auth is not None:
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""  # present but not a bearer token: an invalid credential
        key = header("x-api-key")
        if key is not None:
            return key.strip()
        return None

    def _keyed(self, req: Request, route: Route, record: KeyRecord | None,
               *, now: bool) -> NodeError | None:
        if record is None:
            self._failures.inc(("invalid",))
            return AuthenticationError("the API key is not valid (unknown or revoked)",
                                       {"reason": "invalid_key"}, realm=self.config.realm)
        scope = route.scope
        if scope is not None and scope not in record.scopes:
            self._failures.inc(("scope",))
            return AuthorizationError(f"this API key may not use {route.label}",
                                      {"reason": "missing_scope", "scope": scope})
        assert self._ring is not None
        self._ring.used(record)
        policy = self._policy_of(record)
        if policy is None or self._limiter is None:
            return None
        req.caller = f"k:{record.id}"
        req.policy = policy
        return self._limit(req, route, now=now)

    def _anonymous(self, req: Request, route: Route, *, now: bool) -> NodeError | None:
        if self._required:
            self._failures.inc(("missing",))
            return AuthenticationError("an API key is required (Authorization: Bearer <key> "
                                       "or X-API-Key)", {"reason": "missing_key"},
                                       realm=self.config.realm)
        if route.scope not in self._anonymous_scopes:
            self._failures.inc(("missing",))
            return AuthenticationError(f"{route.label} needs an API key with scope "
                                       f"{route.scope}", {"reason": "missing_key",
                                                          "scope": route.scope},
                                       realm=self.config.realm)
        policy = self.config.anonymous
        if policy is None or self._limiter is None:
            return None
        req.caller = self._caller(req)
        req.policy = policy
        return self._limit(req, route, now=now)

    def _limit(self, req: Request, route: Route, *, now: bool) -> NodeError | None:
        assert self._limiter is not None
        cost = route.cost if isinstance(route.cost, int) else route.cost(req)
        req.cost = cost
        verdict = self._limiter.check_now(req.caller, req.policy, cost)
        if verdict is None:
            return None
        if verdict is DEFER:
            return cast(NodeError, DEFER)
        return _refusal(verdict, cost)

    async def _limit_later(self, req: Request, route: Route) -> NodeError | None:
        assert self._limiter is not None
        verdict = await self._limiter.check(req.caller, req.policy, req.cost)
        return None if verdict is None else _refusal(verdict, req.cost)

    def _policy_of(self, record: KeyRecord) -> Policy | None:
        held = self._key_policies.get(record.id)
        if held is not None and held[0] is record:
            return held[1]
        default = self.config.key_default
        if record.rate is None and record.burst is None:
            policy = default
        else:
            rate = record.rate if record.rate is not None else (
                default.rate if default is not None else float(record.burst or 1))
            burst = record.burst if record.burst is not None else (
                default.burst if default is not None else max(int(rate), 1))
            policy = Policy("key", rate, burst)
        if len(self._key_policies) > 100_000:
            self._key_policies.clear()
        self._key_policies[record.id] = (record, policy)
        return policy

    def _caller(self, req: Request) -> str:
        peer = req.client
        if self._trusted:
            peer = client_address(peer, req.header("x-forwarded-for"), self._trusted)
        caller = self._callers.get(peer)
        if caller is None:
            if len(self._callers) >= _ADDRESS_MEMO_MAX:
                self._callers.clear()
            caller = self._callers[peer] = "a:" + _normalise(peer)
        return caller

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"keys": self.config.keys_mode}
        if self._ring is not None:
            out["ring"] = self._ring.status()
        return out


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
