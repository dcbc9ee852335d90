"""CORS: which origins get which headers."""

from __future__ import annotations

from bizra_node.api import CorsPolicy, Request


def req(**headers: str) -> Request:
    return Request("OPTIONS", "/rpc", "", headers.get, b"", "rid")


def test_listed_origins_only() -> None:
    cors = CorsPolicy(["https://a.example/", " https://b.example "])
    assert cors.enabled
    assert cors.allow_origin("https://a.example") == "https://a.example"
    assert cors.allow_origin("https://b.example") == "https://b.example"
    assert cors.allow_origin("https://c.example") is None
    assert cors.allow_origin(None) is None
    assert cors.headers(req(origin="https://c.example")) == []


def test_preflight_echoes_plain_header_lists_only() -> None:
    cors = CorsPolicy(["*"])
    ok = dict(cors.preflight(req(origin="http://x", **{
        "access-control-request-headers": "content-type, authorization"})).headers)
    assert ok["access-control-allow-origin"] == "*"
    assert ok["access-control-allow-headers"] == "content-type, authorization"
    odd = dict(cors.preflight(req(origin="http://x", **{
        "access-control-request-headers": "x\r\nset-cookie: a=b"})).headers)
    assert odd["access-control-allow-headers"] == "content-type"


def test_no_origins_no_headers() -> None:
    cors = CorsPolicy([])
    assert not cors.enabled
    resp = cors.preflight(req(origin="https://a.example"))
    assert resp.status == 204 and resp.headers == []
