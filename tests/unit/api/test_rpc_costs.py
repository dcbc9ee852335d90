"""What a /rpc request costs the caller's rate limit: the sum of its calls."""

from __future__ import annotations

import json

import pytest

from bizra_node.api import DEFAULT_COSTS, Request, RpcRoute
from bizra_node.api.rpc import Single
from bizra_node.jsonrpc import RpcLimits

LIMITS = RpcLimits()


def route_with(costs: dict[str, int] | None = None) -> RpcRoute:
    # cost() never calls the service
    return RpcRoute(None, limits=LIMITS, costs=costs)  # type: ignore[arg-type]


def cost(body: bytes, costs: dict[str, int] | None = None) -> int:
    route = route_with(costs)
    req = Request("POST", "/rpc", "", {}.get, body, "rid")
    return route.cost(req)


def call(method: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}


@pytest.mark.parametrize(("body", "units"), [
    (call("eth_chainId"), 1),
    (call("eth_getLogs"), 10),
    (call("eth_call"), 5),
    ([call("eth_chainId")] * 50, 50),
    ([call("eth_getLogs"), call("eth_call"), call("eth_blockNumber")], 16),
    ([call("eth_chainId"), 1, "x", None, call(7)], 5),  # each item at least 1
    ([], 1),  # refused at once
    ([call("eth_chainId")] * (LIMITS.max_batch + 1), 1),  # over the limit: refused at once
    ("just a string", 1),
])
def test_costs(body: object, units: int) -> None:
    assert cost(json.dumps(body).encode()) == units


def test_unparseable_bodies_cost_one_and_are_parsed_once() -> None:
    assert cost(b"{not json") == 1
    route = route_with()
    req = Request("POST", "/rpc", "", {}.get, json.dumps(call("eth_call")).encode(), "rid")
    assert route.cost(req) == 5
    assert type(req.input) is Single and req.input.as_dict() == call("eth_call")  # reused


def test_overrides() -> None:
    assert cost(json.dumps(call("eth_getLogs")).encode(), {**DEFAULT_COSTS, "eth_getLogs": 25}) == 25
