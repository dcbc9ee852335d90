"""POST /rpc: JSON-RPC 2.0 (single or batch) for any web3 client.

Errors here are JSON-RPC error objects in an HTTP 200, as web3 clients expect:
-32700 parse error, -32600 invalid request, -32601 method not allowed, -32602 bad
params, and the node's own codes for an upstream outage. Notifications (no id) get
no answer entry.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import NodeError
from ..jsonrpc import Call, RpcError
from ..validation import MAX_BATCH, RpcService, method_allowed
from .http import Request, Response
from .routing import Route

__all__ = ["RpcRoute"]

_NO_ID = object()


def _error(req_id: Any, code: int, message: str, data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": err})


class RpcRoute:
    def __init__(self, service: RpcService) -> None:
        self._svc = service
        self.routes = [Route("/rpc", ("POST",), self.handle)]

    async def handle(self, req: Request) -> Response:
        try:
            doc = orjson.loads(req.body)
        except orjson.JSONDecodeError:
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

