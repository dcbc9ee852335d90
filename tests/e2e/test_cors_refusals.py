"""Refusals a browser can read, over real HTTP against `bizra-node serve` (both server
interfaces): 429 on the synchronous lane and on the full path, 405,
404 and 408 (a body that never arrives, from a raw socket) to an allowed origin carry
Access-Control-Allow-Origin and Access-Control-Expose-Headers. The other kinds (401,
403, 503, 500): tests/integration/security/test_cors_refusals.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

ORIGIN = "https://app.example"
CALL = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
BATCH = b"[" + CALL + b"," + CALL.replace(b'"id":1', b'"id":2') + b"]"


@pytest.fixture(params=["rsgi", "asgi"])
def served(request: pytest.FixtureRequest, devnet: Devnet) -> Iterator[str]:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "RPC_CORS_ORIGINS": ORIGIN,
                               "RATE_LIMIT_RPS": "0.001", "RATE_LIMIT_BURST": "3",
                               "HTTP_BODY_TIMEOUT": "1"}, "--interface", request.param)
    try:
        yield base
    finally:
        assert stop_server(proc) == 0


def _readable(status: int, headers: httpx.Headers | dict[str, str]) -> None:
    assert headers.get("access-control-allow-origin") == ORIGIN, (status, headers)
    assert "retry-after" in headers["access-control-expose-headers"]
    assert "x-verification" in headers["access-control-expose-headers"]


def _raw_late_body(base: str) -> tuple[int, dict[str, str]]:
    """POST /rpc announcing 100 bytes and sending 10: the node gives up (408)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(b"POST /rpc HTTP/1.1\r\nHost: node\r\nOrigin: " + ORIGIN.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     + CALL[:10])
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(":", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.strip().lower(): v.strip() for k, v in fields.items()}


def test_refusals_over_real_http_are_readable(served: str) -> None:
    headers = {"origin": ORIGIN, "content-type": "application/json"}
    with httpx.Client(base_url=served, timeout=10) as http:
        statuses = [http.post("/rpc", content=CALL, headers=headers).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 200]
        hit_lane = http.post("/rpc", content=CALL, headers=headers)
        full_path = http.post("/rpc", content=BATCH, headers=headers)
        for resp in (hit_lane, full_path):
            assert resp.status_code == 429 and resp.json()["error"]["code"] == -32005
            _readable(resp.status_code, resp.headers)
        resp = http.get("/rpc", headers=headers)
        assert resp.status_code == 405
        _readable(resp.status_code, resp.headers)
        resp = http.post("/rpc/a/b", content=CALL, headers=headers)
        assert resp.status_code == 404
        _readable(resp.status_code, resp.headers)
    status, fields = _raw_late_body(served)
    assert status == 408
    _readable(status, fields)
