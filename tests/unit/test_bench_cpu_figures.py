"""The bench harness's CPU-per-request figures and the fault proxy's head-only count
(the regression gate leaves the head follower's polls out of a miss's round trips)."""

from __future__ import annotations

import math

import aiohttp
import orjson
import pytest
from aiohttp import web

from bizra_bench.faultproxy import FaultProxy, head_only
from bizra_bench.report import hit_path, round_cpu_ratio, round_ratio
from bizra_bench.watch import Watch


@pytest.mark.parametrize(("names", "expected"), [
    (["eth_blockNumber"], True),
    (["eth_getBlockByNumber:latest"], True),
    (["eth_blockNumber", "eth_getBlockByNumber:finalized"], True),
    (["eth_getBlockByNumber"], False),  # by number: a miss's call
    (["eth_blockNumber", "eth_getTransactionByHash"], False),
    ([], False),
])
def test_head_only_requests(names: list[str], expected: bool) -> None:
    assert head_only(names) is expected


async def test_the_proxy_counts_head_only_requests_apart() -> None:
    async def echo(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        items = doc if isinstance(doc, list) else [doc]
        out = [{"jsonrpc": "2.0", "id": i["id"], "result": "0x1"} for i in items]
        return web.Response(body=orjson.dumps(out if isinstance(doc, list) else out[0]),
                            content_type="application/json")

    app = web.Application()
    app.router.add_post("/", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bodies = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["latest", False]},
        [{"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockByNumber", "params": ["0x5", False]},
         {"jsonrpc": "2.0", "id": 4, "method": "eth_blockNumber", "params": []}],
        {"jsonrpc": "2.0", "id": 5, "method": "eth_getTransactionByHash", "params": ["0x00"]},
    ]
    try:
        async with FaultProxy(f"http://127.0.0.1:{port}", count_calls=True) as proxy, \
                aiohttp.ClientSession() as http:
            for body in bodies:
                async with http.post(proxy.url, data=orjson.dumps(body)) as resp:
                    assert resp.status == 200
            stats = proxy.stats()
    finally:
        await runner.cleanup()
    assert stats["received"] == 4 and stats["headOnly"] == 2
    assert stats["calls"]["eth_getBlockByNumber:latest"] == 1


def _runs(node: list[tuple[float, float]], nginx: list[tuple[float, float]]) -> dict[str, object]:
    def run(rounds: list[tuple[float, float]]) -> dict[str, object]:
        return {"rps": max(r[0] for r in rounds), "cpu_us": rounds[0][1],
                "extra": {"repeats": [r[0] for r in rounds], "cpu_repeats": [r[1] for r in rounds]}}

    return {"hit.post": run(node), "nginx.post": run(nginx)}


def test_ratios_are_medians_of_the_rounds_ratios() -> None:
    runs = _runs([(40_000, 40.0), (20_000, 44.0), (42_000, 38.0)],
                 [(100_000, 10.0), (40_000, 11.0), (140_000, 9.5)])
    # per round: 0.4, 0.5, 0.3 (req/s); 4.0, 4.0, 4.0 (CPU per request)
    assert round_ratio(runs, "hit.post", "nginx.post") == pytest.approx(0.4)
    assert round_cpu_ratio(runs, "hit.post", "nginx.post") == pytest.approx(4.0)
    (nginx, node) = hit_path(runs)
    assert node["key"] == "hit.post" and node["rounds"] == 3
    assert node["rps"] == (40_000, 20_000, 42_000) and node["cpu_us"] == (40.0, 38.0, 44.0)
    assert node["cpu_vs_nginx"] == pytest.approx(4.0) and nginx["rps_vs_nginx"] == 1.0


def test_a_missing_cpu_figure_gives_no_ratio() -> None:
    runs = {"hit.post": {"rps": 1.0, "cpu_us": None}, "nginx.post": {"rps": 2.0, "cpu_us": 9.0}}
    assert math.isnan(round_cpu_ratio(runs, "hit.post", "nginx.post"))


def test_watch_counts_cpu_seconds() -> None:
    import os
    import time

    with Watch([os.getpid()]) as w:
        end = time.process_time() + 0.1
        while time.process_time() < end:
            pass
    # the kernel counts CPU time in clock ticks (10 ms here): allow two
    assert w.cpu_s >= 0.08 - 1e-9 and w.cpu_pct > 0
