"""The guard on a node, in process (ASGI): keys and scopes, the refusals' envelopes and
header fields, route costs, /rpc's JSON-RPC refusals, and routes without a scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizra_node.app import Node
from bizra_node.security import KeyHasher, generate_key
from tests.conftest import Devnet, make_settings, running_node
from tests.integration.security.conftest import SECRET

Pair = tuple[Node, httpx.AsyncClient]


@pytest.fixture
async def keyed_node(devnet: Devnet, pg_dsn: str, tmp_path: Path,
                     request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    mode = getattr(request, "param", "required")
    settings = make_settings(devnet.url, db_enabled=True, database_url=pg_dsn,
                             data_dir=str(tmp_path), api_keys_mode=mode, api_key_secret=SECRET,
                             rate_limit_key_rps=1000.0, rate_limit_key_burst=1000, bizra_workers=1)
    async with running_node(settings) as pair:
        yield pair


async def new_key(node: Node, name: str, scopes: tuple[str, ...], **kw: Any) -> str:
    key = generate_key()
    assert node.store is not None and node.security.ring is not None
    await node.store.keys.create(name, KeyHasher(SECRET).hash(key), scopes, **kw)
    await node.security.ring.refresh()
    return key


async def test_keys_required(keyed_node: Pair, devnet: Devnet) -> None:
    node, client = keyed_node
    path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
    resp = await client.get(path)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Bearer realm="bizra-node"'
    body = resp.json()
    assert body["success"] is False and body["error"]["code"] == "AUTHENTICATION_ERROR"
    assert body["error"]["details"]["reason"] == "missing_key"

    resp = await client.get(path, headers={"authorization": "Bearer bzk_nope"})
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    assert resp.json()["error"]["details"]["reason"] == "invalid_key"

    key = await new_key(node, "wallet", ("validate",))
    for headers in ({"authorization": f"Bearer {key}"}, {"authorization": f"bearer  {key} "},
                    {"x-api-key": key}):
        resp = await client.get(path, headers=headers)
        assert resp.status_code == 200, (headers, resp.text)
    # the second call is an L1 hit: the fast lane checked the key too
    resp = await client.get(path, headers={"authorization": "Basic abc"})
    assert resp.status_code == 401

    resp = await client.get("/api/v1/validations", headers={"x-api-key": key})
    assert resp.status_code == 403
    assert resp.json()["error"] == {"code": "AUTHORIZATION_ERROR",
                                    "message": "this API key may not use /api/v1/validations",
                                    "details": {"reason": "missing_scope", "scope": "history"}}
    assert (await client.get("/metrics", headers={"x-api-key": key})).status_code == 403
    for free in ("/health", "/ready", "/openapi.json"):
        assert (await client.get(free)).status_code == 200, free
    ready = (await client.get("/ready")).json()["data"]["checks"]["security"]
    assert ready["ok"] is True and ready["apiKeys"]["held"] == 1

    ops = await new_key(node, "ops", ("metrics",))
    assert (await client.get("/metrics", headers={"x-api-key": ops})).status_code == 200
    assert (await client.get("/api/metrics", headers={"x-api-key": ops})).status_code == 200

    # last used is written in a batch, not per request
    assert node.store is not None and node.security.ring is not None
    before = {k.name: k.last_used_at for k in await node.store.keys.list_keys()}
    assert before == {"ops": None, "wallet": None}
    await node.security.ring.flush_used()
    after = {k.name: k.last_used_at for k in await node.store.keys.list_keys()}
    assert after["wallet"] is not None and after["ops"] is not None


async def test_rpc_refusals_are_json_rpc_with_their_status(keyed_node: Pair) -> None:
    node, client = keyed_node
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    resp = await client.post("/rpc", json=call)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json() == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32001, "message": "an API key is required (Authorization: Bearer <key> or "
        "X-API-Key)", "data": {"reason": "missing_key"}}}
    validate_only = await new_key(node, "v", ("validate",))
    resp = await client.post("/rpc", json=[call, call], headers={"x-api-key": validate_only})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == -32003
    rpc = await new_key(node, "r", ("rpc",), rate=0.001, burst=3)
    resp = await client.post("/rpc", json=[call, call], headers={"x-api-key": rpc})
    assert resp.status_code == 200 and [a["result"] for a in resp.json()] == ["0x7a69"] * 2
    resp = await client.post("/rpc", json=[call, call], headers={"x-api-key": rpc})  # 2 > 1 left
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == -32005
    assert resp.headers["ratelimit-policy"] == '"key";q=3;w=3000'
    assert int(resp.headers["retry-after"]) >= 1
    resp = await client.post("/rpc", json=call, headers={"x-api-key": rpc})  # 1 left: fits
    assert resp.status_code == 200


@pytest.mark.parametrize("keyed_node", ["optional"], indirect=True)
async def test_keys_optional(keyed_node: Pair, devnet: Devnet) -> None:
    _, client = keyed_node
    path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
    assert (await client.get(path)).status_code == 200  # anonymous: validate is open
    resp = await client.get("/metrics")  # metrics is not an anonymous scope
    assert resp.status_code == 401 and resp.json()["error"]["details"]["scope"] == "metrics"
    assert (await client.get(path, headers={"x-api-key": "bzk_wrong"})).status_code == 401


async def test_anonymous_limits_by_address_and_route_costs(devnet: Devnet) -> None:
    """No Redis: per-worker limits (one worker here). /health is never limited."""
    settings = make_settings(devnet.url, rate_limit_rps=0.001, rate_limit_burst=12,
                             rate_limit_rpc_costs="eth_chainId=4", bizra_workers=1)
    async with running_node(settings) as (_, client):
        path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
        statuses = [(await client.get(path)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        assert (await client.post("/rpc", json=call)).status_code == 200  # costs 4: 3 left
        resp = await client.post("/rpc", json=call)
        assert resp.status_code == 429
        resp = await client.get(path)
        assert [(await client.get(path)).status_code for _ in range(3)] == [200, 200, 429]
        resp = await client.get(path)
        assert resp.status_code == 429
        body = resp.json()
        assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert body["error"]["details"]["policy"] == "anonymous"
        assert resp.headers["ratelimit"].startswith('"anonymous";r=0;t=')
        assert resp.headers["retry-after"] == resp.headers["ratelimit"].rsplit("=", 1)[1]
        assert (await client.get("/health")).status_code == 200
        ready = (await client.get("/ready")).json()["data"]["checks"]["security"]
        assert ready["rateLimit"]["mode"] == "local" and ready["rateLimit"]["redis"] == "none"
        other = httpx.ASGITransport(app=client._transport.app,  # type: ignore[attr-defined]
                                    client=("192.0.2.9", 1234))
        async with httpx.AsyncClient(transport=other, base_url="http://node") as second:
            assert (await second.get(path)).status_code == 200  # another address


async def test_a_keys_own_rate_holds_without_any_default_limit(
        devnet: Devnet, pg_dsn: str, tmp_path: Path) -> None:
    """keys create --rate/--burst with RATE_LIMIT_RPS and RATE_LIMIT_KEY_RPS at their
    defaults (0): the key's own limit is enforced (it was ignored: no limiter was built)."""
    settings = make_settings(devnet.url, db_enabled=True, database_url=pg_dsn,
                             data_dir=str(tmp_path), api_keys_mode="required",
                             api_key_secret=SECRET, bizra_workers=1)
    assert settings.rate_limit_rps == 0 and settings.rate_limit_key_rps == 0
    async with running_node(settings) as (node, client):
        key = await new_key(node, "slow", ("validate",), rate=0.001, burst=3)
        headers = {"authorization": f"Bearer {key}"}
        path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
        statuses = [(await client.get(path, headers=headers)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        unlimited = await new_key(node, "free", ("validate",))  # no rate: no limit
        headers = {"authorization": f"Bearer {unlimited}"}
        assert {(await client.get(path, headers=headers)).status_code
                for _ in range(10)} == {200}
