"""X-Forwarded-For behind a trusted proxy, over real HTTP against `bizra-node serve`
(both server interfaces): a client that sends a line of its own before its proxy's
cannot pick the address it is limited as."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

RATE, BURST = 5, 20
"""A slow refill: what one address gets back while a loaded machine sends a request
(tens of ms each) stays far below a fresh address's burst."""
CALL = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'


@pytest.fixture(params=["rsgi", "asgi"])
def proxied(request: pytest.FixtureRequest, devnet: Devnet) -> Iterator[str]:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "TRUSTED_PROXIES": "127.0.0.1/32",
                               "RATE_LIMIT_RPS": str(RATE), "RATE_LIMIT_BURST": str(BURST)},
                              "--interface", request.param)
    try:
        yield base
    finally:
        assert stop_server(proc) == 0


def _post(http: httpx.Client, base: str, lines: list[str]) -> int:
    headers = [("content-type", "application/json")]
    headers += [("x-forwarded-for", line) for line in lines]  # one header line each
    return http.post(base + "/rpc", content=CALL, headers=headers).status_code


def test_a_forged_first_line_does_not_escape_the_limit(proxied: str) -> None:
    sent = 200
    with httpx.Client(timeout=10) as http:
        start = time.monotonic()
        answered = sum(_post(http, proxied, [f"198.51.100.{i % 250}", "203.0.113.9"]) == 200
                       for i in range(sent))
        elapsed = time.monotonic() - start
        # what one address may spend in that time (the worker's local limiter), with room
        allowed = BURST + RATE * elapsed + 5
        assert answered <= allowed, f"{answered} of {sent} answered in {elapsed:.2f} s"
        assert answered >= BURST // 2
        # the proxy's line names the client: another client behind it has its own allowance
        assert _post(http, proxied, ["198.51.100.1", "203.0.113.10"]) == 200
        # a forged line of garbage changes nothing either: its requests spend what is left
        # of 203.0.113.9's allowance (its refill), not a fresh burst of their own
        start = time.monotonic()
        garbage = sum(_post(http, proxied, ["garbage", "203.0.113.9, 127.0.0.1"]) == 200
                      for _ in range(BURST))
        elapsed = time.monotonic() - start
        assert garbage <= RATE * elapsed + 2 < BURST, f"{garbage} in {elapsed:.2f} s"
