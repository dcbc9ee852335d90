"""An upstream serving the recorded chain's headers (blocks 0..15 of
tests/fixtures/trust/anvil.json.gz), and any other answer recorded there, over real
HTTP, for the header, anchor, vouching and prover tests.

``forged`` replaces blocks by number with headers of another chain (:func:`forge`: a
changed field, the hash recomputed, so each hashes correctly and only the links tell).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from bizra_node.app import upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.observability import NodeMetrics
from bizra_node.validation.trust import Header, header_hash, verify_header
from tests.conftest import make_settings
from tests.support.recorded_chain import RecordedChain
from tests.support.servers import scripted_upstream

TIP = 15
"""The highest recorded block."""
CHAIN_ID = 31337


def recorded_header(chain: RecordedChain, number: int) -> dict[str, Any]:
    return dict(chain.call("eth_getBlockByNumber", hex(number), False))


def forge(raw: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """``raw`` with ``fields`` changed and its hash recomputed (another chain's block)."""
    out = {**raw, **fields}
    out["hash"] = "0x" + header_hash(out).hex()
    return out


def header(raw: Mapping[str, Any]) -> Header:
    return verify_header(raw)


@dataclass
class Served:
    """What the upstream serves (change it between calls) and what it was asked."""

    url: str = ""
    finalized: int | None = TIP
    """The block the 'finalized' tag names (None: the tag is not known, an error)."""
    forged: dict[int, dict[str, Any]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)


@asynccontextmanager
async def header_upstream(chain: RecordedChain, *, finalized: int | None = TIP,
                          forged: Mapping[int, dict[str, Any]] | None = None
                          ) -> AsyncIterator[Served]:
    served = Served(finalized=finalized, forged=dict(forged or {}))

    def result(method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(CHAIN_ID)
        if method == "eth_blockNumber":
            return hex(TIP)
        if method == "eth_getBlockByNumber":
            tag = params[0]
            if tag == "finalized":
                if served.finalized is None:
                    raise LookupError("finalized")
                number = served.finalized
            else:
                number = TIP if tag == "latest" else int(tag, 16)
            if number > TIP:
                return None
            if len(params) > 1 and params[1] is True:
                return chain.call(method, *params)  # a full block, where recorded
            return served.forged.get(number) or recorded_header(chain, number)
        return chain.call(method, *params)  # LookupError when not recorded

    def one(item: dict[str, Any]) -> dict[str, Any]:
        served.asked.append(item["method"])
        try:
            return {"jsonrpc": "2.0", "id": item["id"],
                    "result": result(item["method"], item.get("params", []))}
        except LookupError:
            return {"jsonrpc": "2.0", "id": item["id"],
                    "error": {"code": -32601, "message": "not supported here"}}

    async def answer(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        out: Any = [one(i) for i in doc] if isinstance(doc, list) else one(doc)
        return web.Response(body=orjson.dumps(out), content_type="application/json")

    async with scripted_upstream(answer) as url:
        served.url = url
        yield served


@asynccontextmanager
async def pool_over(*urls: str, **settings: Any) -> AsyncIterator[UpstreamPool]:
    """A started UpstreamPool over ``urls`` (no head polls), closed afterwards."""
    pool = UpstreamPool(upstream_config(make_settings(",".join(urls), head_poll_interval=0,
                                                      **settings)), NodeMetrics())
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()
