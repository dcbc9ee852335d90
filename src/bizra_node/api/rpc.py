"""POST /rpc: JSON-RPC 2.0 (single or batch) for any web3 client.

Errors here are JSON-RPC error objects in an HTTP 200, as web3 clients expect:
-32700 parse error, -32600 invalid request, -32601 method not allowed, -32602 bad
params, and the node's own codes for an upstream outage. Notifications (no id) get
no answer entry.

Refusals of the guard (a missing or invalid key, a missing scope, the rate limit)
are the exception: they keep their HTTP status (401, 403, 429, 503) with
WWW-Authenticate / Retry-After / RateLimit fields, and the body is one JSON-RPC error
object with id null (codes -32001, -32003, -32005, -32603), as hosted providers do:
web3 clients read the status to back off (ethers and viem retry a 429) and show the
message. A batch is refused whole, with one error object, as JSON-RPC 2.0 says of a
request that fails as a whole.

Each call costs rate-limit units (``costs``: 1, or more for heavy methods such as
eth_getLogs and eth_call); a batch costs the sum of its calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from ..errors import NodeError
from ..jsonrpc import Call, RpcError
from ..validation import MAX_BATCH, RpcService, method_allowed
from .http import UNPARSED, Request, Response
from .routing import Route

__all__ = ["DEFAULT_COSTS", "RpcRoute", "rpc_refusal"]

_NO_ID = object()
_UNREADABLE = object()
"""``req.input`` of a body that is not JSON."""

DEFAULT_COSTS: Final[Mapping[str, int]] = {
    "eth_call": 5, "eth_estimateGas": 5, "eth_getLogs": 10, "eth_getProof": 5,
    "eth_createAccessList": 5, "eth_feeHistory": 2}
"""Rate-limit units per call of the methods that cost upstreams more than a lookup;
every other call costs 1 (RATE_LIMIT_RPC_COSTS overrides)."""


def rpc_refusal(exc: NodeError, request_id: str) -> Response:
    """A refusal of the whole request: its HTTP status and header fields, and one
    JSON-RPC error object."""
    return Response(exc.http_status, _error(None, exc.jsonrpc_code, exc.message, exc.details),
                    headers=list(exc.headers))


def _decode(req: Request) -> Any:
    try:
        return orjson.loads(req.body)
    except orjson.JSONDecodeError:
        return _UNREADABLE


def _error(req_id: Any, code: int, message: str, data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": err})


class RpcRoute:
    def __init__(self, service: RpcService, costs: Mapping[str, int] | None = None) -> None:
        self._svc = service
        self.costs = dict(DEFAULT_COSTS if costs is None else costs)
        self.routes = [Route("/rpc", ("POST",), self.handle, parse=_decode, scope="rpc",
                             cost=self.cost, render_error=rpc_refusal)]

    def cost(self, req: Request) -> int:
        """Units the request spends: the sum of its calls' costs (a body that is not
        JSON-RPC costs 1: it is answered with an error at once)."""
        doc = req.input
        if doc is UNPARSED:
            doc = req.input = _decode(req)
        costs = self.costs
        if isinstance(doc, list):
            if not doc or len(doc) > MAX_BATCH:
                return 1
            total = 0
            for item in doc:
                method = item.get("method") if isinstance(item, dict) else None
                total += costs.get(method, 1) if isinstance(method, str) else 1
            return total
        if isinstance(doc, dict):
            method = doc.get("method")
            return costs.get(method, 1) if isinstance(method, str) else 1
        return 1

    async def handle(self, req: Request) -> Response:
        doc = req.input
        if doc is UNPARSED:
            doc = _decode(req)
        if doc is _UNREADABLE:
            return Response(200, _error(None, -32700, "Parse error"))
        if isinstance(doc, list):
            if not doc:
                return Response(200, _error(None, -32600, "Invalid Request: empty batch"))
            if len(doc) > MAX_BATCH:
                return Response(200, _error(None, -32600,
                                            f"Invalid Request: batch larger than {MAX_BATCH}"))
            out = [a for a in await self._answer(doc) if a is not None]
            return Response(200, b"[" + b",".join(out) + b"]") if out else Response(204, b"")
        answer = (await self._answer([doc]))[0]
        return Response(200, answer) if answer is not None else Response(204, b"")

    async def _answer(self, items: list[Any]) -> list[bytes | None]:
        """Encoded answers in item order; None for notifications."""
        answers: list[bytes | None] = [None] * len(items)
        forward: list[tuple[int, Any, Call]] = []
        for i, item in enumerate(items):
            req_id = item.get("id", _NO_ID) if isinstance(item, dict) else None
            problem = _check(item)
            if problem is not None:
                answers[i] = _error(None if req_id is _NO_ID else req_id, *problem)
                continue
            forward.append((i, req_id, Call(item["method"], tuple(item.get("params", [])))))
        if not forward:
            return answers
        try:
            results = await self._svc.answer([c for _, _, c in forward])
        except NodeError as exc:
            for i, req_id, _ in forward:
                if req_id is not _NO_ID:
                    answers[i] = _error(req_id, exc.jsonrpc_code, exc.message, exc.details)
            return answers
        for (i, req_id, _), result in zip(forward, results, strict=True):
            if req_id is _NO_ID:
                continue
            if isinstance(result, RpcError):
                answers[i] = _error(req_id, result.code, result.message, result.data)
            else:  # splice the client's id and the encoded result
                answers[i] = b"".join((b'{"jsonrpc":"2.0","id":', orjson.dumps(req_id),
                                       b',"result":', result, b"}"))
        return answers


def _check(item: Any) -> tuple[int, str] | None:
    if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
        return -32600, "Invalid Request"
    method = item.get("method")
    if not isinstance(method, str):
        return -32600, "Invalid Request: method must be a string"
    req_id = item.get("id")
    if (req_id is not None and not isinstance(req_id, str | int)) or isinstance(req_id, bool):
        return -32600, "Invalid Request: id must be a string, number or null"
    if not isinstance(item.get("params", []), list):
        return -32602, "Invalid params: params must be an array"
    if not method_allowed(method):
        return -32601, f"Method not allowed: {method[:64]}"
    return None

