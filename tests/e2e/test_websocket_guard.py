"""The WebSocket passes the same guard as HTTP, against real
`bizra-node serve` processes (both server interfaces) with API_KEYS_MODE=required, keys
made and revoked by `bizra-node keys`, PostgreSQL and a redis-server: the upgrade
refused without a valid key with scope rpc or from an origin not allowed; every
message charged to the caller's limit (-32005 past it, the socket kept, a flood read
at the caller's rate); a revocation closing a subscribed socket at once. Clients: the
`websockets` library, web3.py's WebSocketProvider, and ethers and viem (node)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import TEST_CACHE_SECRET, Devnet
from tests.e2e.test_security import keys_cli
from tests.e2e.test_serve import start_server, stop_server
from tests.integration.security.conftest import SECRET
from tests.support.postgres import SHARED_DSN, scratch_database
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".clients" / "node_modules"
SCRIPT = Path(__file__).with_name("js") / "ws_guard.cjs"
ORIGIN = "https://app.example"
CHAIN_ID = '{"jsonrpc":"2.0","id":%d,"method":"eth_chainId","params":[]}'


@dataclass
class Keyed:
    url: str
    env: dict[str, str]
    interface: str

    def name(self, name: str) -> str:
        """``name`` as this interface's node knows it (both share the database)."""
        return f"{name}-{self.interface}"

    def key(self, name: str, *args: str) -> str:
        made = keys_cli(self.env, "create", self.name(name), *args)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
async def pg_dsn() -> AsyncIterator[str]:
    async with scratch_database(SHARED_DSN) as dsn:
        yield dsn


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def keyed(request: pytest.FixtureRequest, devnet: Devnet, pg_dsn: str,
          tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Keyed]:
    """One node per interface for the module, both on one database: each test makes keys
    of its own names (the ones it revokes or meters included), so no test sees another's."""
    env = {"BIZRA_NODE_URL": devnet.url, "DATABASE_URL": pg_dsn, "DB_ENABLED": "true",
           "DATA_DIR": str(tmp_path_factory.mktemp(f"wsg-{request.param}")),
           "API_KEY_SECRET": SECRET, "API_KEYS_MODE": "required",
           "API_KEYS_REFRESH": "60",  # a revocation must arrive through Redis
           "REDIS_URL": redis_server.url, "CACHE_KEY_PREFIX": f"wsg{os.getpid()}{request.param}",
           "CACHE_SECRET": TEST_CACHE_SECRET, "RPC_CORS_ORIGINS": ORIGIN,
           "RATE_LIMIT_KEY_RPS": "1000", "RATE_LIMIT_KEY_BURST": "1000",
           "HEAD_FOLLOW_INTERVAL": "0.2"}
    proc, base = start_server(env, "--interface", request.param)
    try:
        yield Keyed(base.replace("http://", "ws://") + "/rpc", env, request.param)
    finally:
        assert stop_server(proc) == 0


async def _refused_status(url: str, **kw: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kw):  # type: ignore[arg-type]
            pass
    return info.value.response.status_code


async def _block_number(url: str, **kw: object) -> int:
    async with websockets.connect(url, **kw) as ws:  # type: ignore[arg-type]
        await ws.send('{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":[]}')
        return int(orjson.loads(await ws.recv())["result"], 16)


async def test_the_upgrade_needs_a_valid_key_with_scope_rpc_and_an_allowed_origin(
        keyed: Keyed) -> None:
    good = keyed.key("good", "--scopes", "rpc")
    validate_only = keyed.key("validating", "--scopes", "validate")
    revoked = keyed.key("gone", "--scopes", "rpc")
    assert keys_cli(keyed.env, "revoke", keyed.name("gone")).returncode == 0
    url = keyed.url
    assert await _refused_status(url) == 401
    assert await _refused_status(url, additional_headers={"x-api-key": "bzk_wrong"}) == 401
    assert await _refused_status(url + "?api_key=bzk_wrong") == 401
    assert await _refused_status(url, additional_headers={"x-api-key": revoked}) == 401
    assert await _refused_status(url, additional_headers={"x-api-key": validate_only}) == 403
    assert await _refused_status(url, additional_headers={"x-api-key": good},
                                 origin="https://evil.example") == 403
    # the ways a client presents its key: either header, or the query (browsers)
    for kw in ({"additional_headers": {"authorization": f"Bearer {good}"}},
               {"additional_headers": {"x-api-key": good}},
               {"origin": ORIGIN, "additional_headers": {"x-api-key": good}}):
        assert await _block_number(url, **kw) >= 1
    assert await _block_number(f"{url}?api_key={good}", origin=ORIGIN) >= 1
    # a header wins over the query
    assert await _refused_status(f"{url}?api_key={good}",
                                 additional_headers={"x-api-key": "bzk_wrong"}) == 401


async def test_messages_pay_the_callers_limit_and_a_flood_is_read_at_its_rate(
        keyed: Keyed) -> None:
    """2 000 eth_chainId on one socket at 20/s: before, all were answered in 0.5 s."""
    key = keyed.key("metered", "--scopes", "rpc", "--rate", "20", "--burst", "20")
    async with websockets.connect(keyed.url, additional_headers={"x-api-key": key},
                                  max_queue=None) as ws:
        start = time.monotonic()
        for i in range(2000):  # pipelined: nothing waits for an answer
            await ws.send(CHAIN_ID % i)
        results = errors = 0
        window = 5.0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(window):
                while True:
                    answer = orjson.loads(await ws.recv())
                    if "result" in answer:
                        results += 1
                    else:
                        assert answer["error"]["code"] == -32005, answer
                        assert answer["error"]["data"]["reason"] == "rate_limited"
                        assert isinstance(answer["id"], int)  # matched to its call
                        errors += 1
        elapsed = time.monotonic() - start
        print(f"{keyed.interface}: {results} answered, {errors} refused (-32005) in "
              f"{elapsed:.1f} s of 2 000 sent")
        assert results <= 20 + 20 * elapsed + 5
        assert errors >= 1
        # bounded: the node reads a flooding socket at the caller's rate, not the network's
        assert results + errors <= 20 + 2 * 20 * elapsed + 10
        assert ws.close_code is None  # the socket stays


async def test_a_revocation_closes_a_subscribed_socket_at_once(keyed: Keyed) -> None:
    key = keyed.key("subscriber", "--scopes", "rpc")
    other = keyed.key("bystander", "--scopes", "rpc")
    headers = {"x-api-key": key}
    async with websockets.connect(keyed.url, additional_headers=headers) as ws, \
            websockets.connect(keyed.url, additional_headers={"x-api-key": other}) as by:
        await ws.send('{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newHeads"]}')
        assert orjson.loads(await ws.recv())["result"].startswith("0x")
        out = keys_cli(keyed.env, "revoke", keyed.name("subscriber"))
        assert out.returncode == 0 and "announced on Redis" in out.stdout, out.stdout
        start = time.monotonic()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()  # new heads, until the node closes
        took = time.monotonic() - start
        print(f"{keyed.interface}: revoked key's socket closed after {took:.2f} s, "
              f"code {ws.close_code}")
        assert took < 3
        # granian's RSGI transport sends no status once accepted (the client sees 1005)
        assert ws.close_code == (1008 if keyed.interface == "asgi" else 1005)
        if keyed.interface == "asgi":
            assert ws.close_reason == "API key revoked"
        await by.send(CHAIN_ID % 1)
        assert orjson.loads(await by.recv())["result"] == "0x7a69"  # others go on
    assert await _refused_status(keyed.url, additional_headers=headers) == 401


async def test_web3_websocket_provider_with_a_key(keyed: Keyed) -> None:
    from web3 import AsyncWeb3, WebSocketProvider

    key = keyed.key("web3", "--scopes", "rpc")
    provider = WebSocketProvider(keyed.url, websocket_kwargs={
        "additional_headers": {"authorization": f"Bearer {key}"}})
    async with AsyncWeb3(provider) as w3:
        assert await w3.eth.chain_id == 31337
        assert await w3.eth.block_number >= 1
    with pytest.raises(Exception, match="Could not connect") as info:
        async with AsyncWeb3(WebSocketProvider(keyed.url, max_connection_retries=1)) as w3:
            await w3.eth.chain_id
    causes = []
    error: BaseException | None = info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, InvalidStatus) and e.response.status_code == 401 for e in causes)


def _node_clients(keyed: Keyed, key: str, mode: str) -> dict[str, object]:
    if not (CLIENTS / "ethers").is_dir() or not (CLIENTS / "viem").is_dir():
        pytest.skip("ethers/viem are not installed: run `make clients`")
    out = subprocess.run(["node", str(SCRIPT), keyed.url, key, mode], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "NODE_PATH": str(CLIENTS)})
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_ethers_and_viem_with_a_key_and_past_the_limit(keyed: Keyed) -> None:
    """ethers (node's `ws`, so headers) and viem (the key in the query, as a browser
    must) read blocks with a key, are refused without, and see -32005 past the limit."""
    key = keyed.key("dapp", "--scopes", "rpc")
    got = _node_clients(keyed, key, "key")
    assert got["ethers"] == 31337 and got["viem"] == 31337, got
    assert got["ethersNoKey"] == "refused" and got["viemNoKey"] == "refused", got
    metered = [keyed.key(f"dapp-metered-{i}", "--scopes", "rpc", "--rate", "1", "--burst", "3")
               for i in range(2)]
    got = _node_clients(keyed, ",".join(metered), "limit")
    assert -32005 in got["ethers"] and -32005 in got["viem"], got  # type: ignore[operator]
