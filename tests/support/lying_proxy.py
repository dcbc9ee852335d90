"""A lying upstream: a real HTTP JSON-RPC proxy in front of a real node (anvil) that
rewrites chosen answers by rule.

Every request is forwarded as it came (single calls and batches); in the answer, each
call whose method matches a rule has its result replaced by what the rule's ``edit``
returns (it gets the call's params and a private copy of the honest result, which it
may change in place and return, or replace). A rule can be limited to calls whose
params it accepts (``when``) and to a number of uses (``times``); ``applied`` counts its
uses, so a test can assert that the lie was told. An honest ``null`` result is passed
to ``edit`` as None, so a rule can also fabricate an answer where the node has none.
A rule for method ``"*"`` matches every call.

    async with lying_proxy(anvil_url) as proxy:
        proxy.lie("eth_getBalance", lambda params, result: hex(int(result, 16) * 2))
        ...  # point the code under test at proxy.url
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .servers import scripted_upstream

__all__ = ["Edit", "LyingProxy", "Rule", "lying_proxy"]

Edit = Callable[[list[Any], Any], Any]


@dataclass
class Rule:
    method: str
    edit: Edit
    when: Callable[[list[Any]], bool] | None = None
    times: int | None = None
    """Uses left; None: every matching call."""
    applied: int = 0
    error: dict[str, Any] | None = None
    """A JSON-RPC error object to answer with instead of a result (``refuse``)."""

    def matches(self, method: str, params: list[Any]) -> bool:
        if (method != self.method and self.method != "*") or self.times == 0:
            return False
        return self.when is None or bool(self.when(params))


@dataclass
class LyingProxy:
    url: str = ""
    rules: list[Rule] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    """JSON-RPC calls seen, by method (each call of a batch counts)."""
    requests: int = 0
    """HTTP requests seen (a batch is one): the upstream round trips."""
    delay: float = 0.0
    """Seconds each request waits before it is forwarded (a slower upstream ranks after
    a faster one in the node's pool)."""

    def lie(self, method: str, edit: Edit, *, when: Callable[[list[Any]], bool] | None = None,
            times: int | None = None) -> Rule:
        rule = Rule(method, edit, when, times)
        self.rules.append(rule)
        return rule

    def refuse(self, method: str, code: int = -32601,
               message: str = "the method does not exist/is not available") -> Rule:
        """Answer every call of ``method`` with this JSON-RPC error (an upstream that
        does not offer the method)."""
        rule = Rule(method, lambda params, result: result, error={"code": code,
                                                                  "message": message})
        self.rules.append(rule)
        return rule

    def tell_the_truth(self) -> None:
        self.rules.clear()

    def _rewrite(self, call: dict[str, Any], answer: dict[str, Any]) -> None:
        method = str(call.get("method"))
        params = call.get("params") or []
        self.calls[method] += 1
        if "result" not in answer:
            return
        for rule in self.rules:
            if rule.matches(method, params):
                if rule.error is not None:
                    del answer["result"]
                    answer["error"] = dict(rule.error)
                else:
                    answer["result"] = rule.edit(params, copy.deepcopy(answer["result"]))
                rule.applied += 1
                if rule.times is not None:
                    rule.times -= 1
                return

    def rewrite(self, request: Any, response: Any) -> Any:
        calls = request if isinstance(request, list) else [request]
        answers = response if isinstance(response, list) else [response]
        by_id = {c.get("id"): c for c in calls if isinstance(c, dict)}
        for answer in answers:
            if isinstance(answer, dict) and answer.get("id") in by_id:
                self._rewrite(by_id[answer["id"]], answer)
        return response


@asynccontextmanager
async def lying_proxy(target: str) -> AsyncIterator[LyingProxy]:
    proxy = LyingProxy()
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        proxy.requests += 1
        if proxy.delay:
            await asyncio.sleep(proxy.delay)
        async with session.post(target, data=body,
                                headers={"content-type": "application/json"}) as resp:
            data = await resp.read()
            status = resp.status
        try:
            rewritten = proxy.rewrite(json.loads(body), json.loads(data))
        except ValueError:  # not JSON either way: pass it on untouched
            return web.Response(body=data, status=status, content_type="application/json")
        return web.Response(text=json.dumps(rewritten), status=status,
                            content_type="application/json")

    try:
        async with scripted_upstream(forward) as url:
            proxy.url = url
            yield proxy
    finally:
        await session.close()
