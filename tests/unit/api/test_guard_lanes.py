"""The guard in both Dispatcher lanes (per-worker limits, no Redis: every decision is
synchronous): refusals answered on the fast lane, admitted requests charged once even
when the hit declines to the full path, routes without a scope untouched."""

from __future__ import annotations

import asyncio

from bizra_node.api import Dispatcher, Guard, GuardConfig, Request, Response, Route
from bizra_node.observability import NodeMetrics
from bizra_node.security import LimiterConfig, Policy, RateLimiter

_HEADERS: dict[str, str] = {}


def _node(hit_answers: bool) -> tuple[Dispatcher, list[str]]:
    lanes: list[str] = []

    def hit(req: Request) -> Response | None:
        lanes.append("hit")
        return Response(200, b"{}") if hit_answers else None

    async def full(req: Request) -> Response:
        lanes.append("full")
        return Response(200, b"{}")

    async def health(req: Request) -> Response:
        return Response(200, b"{}")

    metrics = NodeMetrics()
    limiter = RateLimiter(LimiterConfig(), metrics)  # no Redis: per worker, one worker
    guard = Guard(GuardConfig(anonymous=Policy("anonymous", 0.001, 3)), metrics,
                  limiter=limiter)
    routes = [Route("/r/{x}", ("GET",), full, hit=hit, scope="validate"),
              Route("/health", ("GET",), health, hit=lambda r: Response(200, b"{}"))]
    return Dispatcher(routes, 1024, metrics, guard=guard), lanes


def _request(path: str, client: str = "192.0.2.1:4000") -> Request:
    return Request("GET", path, "", _HEADERS.get, b"", "rid", client=client)


async def _send(d: Dispatcher, path: str, client: str = "192.0.2.1:4000") -> Response:
    req = _request(path, client)
    return d.answer_now(req) or await d.dispatch(req)


async def test_fast_lane_refuses_synchronously() -> None:
    d, lanes = _node(hit_answers=True)
    answers = [d.answer_now(_request("/r/a")) for _ in range(4)]
    assert [a.status if a else None for a in answers] == [200, 200, 200, 429]
    refused = answers[3]
    assert refused is not None and b"RATE_LIMIT_EXCEEDED" in refused.body
    assert dict(refused.headers)["ratelimit-policy"] == '"anonymous";q=3;w=3000'
    assert lanes == ["hit"] * 3  # the refused request never reached the route
    assert d.answer_now(_request("/r/a", client="192.0.2.2:4000")) is not None  # another caller
    assert d.answer_now(_request("/r/a", client="192.0.2.1:4001")).status == 429  # same host


async def test_a_declined_hit_is_not_charged_twice() -> None:
    d, lanes = _node(hit_answers=False)
    statuses = [(await _send(d, "/r/a")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # three units: three requests, not one and a half
    assert lanes == ["hit", "full"] * 3


async def test_routes_without_a_scope_are_not_limited() -> None:
    d, _ = _node(hit_answers=True)
    statuses = [(await _send(d, "/health")).status for _ in range(10)]
    assert statuses == [200] * 10
    assert (await _send(d, "/nope")).status == 404  # unknown paths: no scope either


async def test_full_path_refusal_uses_the_envelope() -> None:
    d, _ = _node(hit_answers=False)
    for _ in range(3):
        await _send(d, "/r/b")
    resp = await d.dispatch(_request("/r/b"))
    assert resp.status == 429 and b'"success":false' in resp.body
    assert int(dict(resp.headers)["retry-after"]) >= 1
    await asyncio.sleep(0)


async def test_behind_trusted_proxies_callers_come_from_forwarded_for() -> None:
    import ipaddress

    metrics = NodeMetrics()
    guard = Guard(GuardConfig(anonymous=Policy("anonymous", 0.001, 1),
                              trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),)),
                  metrics, limiter=RateLimiter(LimiterConfig(), metrics))

    async def full(req: Request) -> Response:
        return Response(200, b"{}")

    d = Dispatcher([Route("/r", ("GET",), full, scope="validate")], 1024, guard=guard)

    async def send(client: str, forwarded: str | None) -> int:
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        req = Request("GET", "/r", "", headers.get, b"", "rid", client=client)
        return (await d.dispatch(req)).status

    assert await send("10.0.0.1:5000", "203.0.113.1") == 200
    assert await send("10.0.0.1:5000", "203.0.113.1") == 429  # the same client, memoised
    assert await send("10.0.0.2:6000", "198.51.100.1, 203.0.113.1") == 429  # its address
    assert await send("10.0.0.1:5000", "203.0.113.2") == 200  # another client, same proxy
    assert await send("192.0.2.7:1", "203.0.113.3") == 200  # not a proxy: the peer counts
    assert await send("192.0.2.7:2", "203.0.113.4") == 429  # (forwarded-for ignored)
