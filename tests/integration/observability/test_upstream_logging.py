"""A failing upstream is logged with its name and the method, and its key never shows."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from bizra_node.observability import JsonFormatter
from tests.conftest import make_settings, running_node
from tests.support.servers import scripted_upstream


async def test_upstream_failure_names_upstream_and_method(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="bad gateway")

    async with scripted_upstream(broken) as url:
        secret_url = f"{url}/?apikey=SUPERSECRET123"
        with caplog.at_level(logging.WARNING):
            async with running_node(make_settings(secret_url, retry_initial=0.0)) as (_, client):
                resp = await client.get("/api/v1/validate/block-number",
                                        headers={"x-request-id": "req-42"})
                assert resp.status_code == 503
    # (the node's start asked for the anchor first: that failure is logged the same way)
    failures = [r for r in caplog.records if r.name == "bizra_node.chain"
                and getattr(r, "method", None) == "eth_blockNumber"]
    assert failures
    record = failures[0]
    assert record.upstream.startswith("http://127.0.0.1:")  # type: ignore[attr-defined]
    assert record.kind == "http"  # type: ignore[attr-defined]
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "SUPERSECRET123" not in text
