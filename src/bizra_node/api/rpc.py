"""/rpc: JSON-RPC 2.0 (single or batch) for any web3 client, over HTTP (here) and
WebSocket (ws.py), both answered by :class:`RpcAnswerer`.

Errors are JSON-RPC error objects in an HTTP 200, as web3 clients expect: -32700
parse error, -32600 invalid request (also: batch or body over its limit), -32601
method not allowed, -32602 bad params, -32005 over a limit (eth_getLogs range),
-32003 answer over RPC_MAX_RESPONSE_BYTES, and the node's own codes for an upstream
outage. As the JSON-RPC 2.0 spec says: a notification (a valid request without an
``id``) is never answered, not even with an error; an ``id`` that is not a string,
an integer or null (``true``, an object, a fraction, 2^64+1) makes the request
invalid and is answered with ``id: null``.

The fast lane (``RpcRoute.hit``) answers a single cacheable call from L1 without
awaiting: eth_chainId, eth_blockNumber while the head is fresh, final blocks and
transactions, ``latest`` reads computed at the current head.

The result of a call is exactly what a node would answer; what the node proved about
it goes in the ``X-Verification`` response header of a single (non-batch) call with a
result, on hits as on misses (validation/rpc_proofs.py, docs/trust.md): ``anchored;
anchor=quorum; anchor-number=N; anchor-hash=0x..; checks=header_hash,account_proof,..``,
``consistent; checks=..`` or ``unverified``. A batch carries one ``X-Verification``
too: the weakest level among its calls answered with a result (``unverified`` <
``consistent`` < ``anchored``; the level word alone), none when no call has a result.
A call no upstream answered in a way that passes the checks gets -32099 "integrity
check failed" (data: check, upstream); with TRUST_REQUIRE=proven, a provable call no
upstream would prove gets -32099 too (data.reason: proof_unavailable).

Refusals before the calls are looked at keep to JSON-RPC too. A body over
RPC_MAX_BODY_BYTES is an HTTP 200 with a -32600 error object. The guard's refusals (a
missing or invalid key, a missing scope, the rate limit) keep their HTTP status (401,
403, 429, 503) with WWW-Authenticate / Retry-After / RateLimit fields, and the body is
one JSON-RPC error object with id null (codes -32001, -32003, -32005, -32603), as
hosted providers do: web3 clients read the status to back off (ethers and viem retry a
429) and show the message. A batch is refused whole, with one error object.

Each call costs rate-limit units (``costs``: 1, or more for heavy methods such as
eth_getLogs and eth_call); a batch costs the sum of its calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import msgspec
import orjson

from ..errors import NodeError
from ..jsonrpc import RESPONSE_TOO_LARGE, Call, RpcError, RpcLimits
from ..validation import FAST_METHODS, UNVERIFIED, RpcService, method_allowed, weakest
from .cors import CorsPolicy
from .depth import MAX_JSON_DEPTH, too_deep
from .http import UNPARSED, Request, Response
from .routing import Route

__all__ = ["DEFAULT_COSTS", "PARSE_ERROR", "TOO_DEEP", "VERIFICATION", "LocalMethod",
           "RpcAnswerer", "RpcRoute", "Single", "error_bytes", "parse_rpc", "rpc_refusal"]

DEFAULT_COSTS: Final[Mapping[str, int]] = {
    "eth_call": 5, "eth_estimateGas": 5, "eth_getLogs": 10, "eth_getProof": 5,
    "eth_createAccessList": 5, "eth_feeHistory": 2}
"""Rate-limit units per call of the methods that cost upstreams more than a lookup;
every other call costs 1 (RATE_LIMIT_RPC_COSTS overrides)."""

LocalMethod = Callable[[list[Any]], Awaitable[Any]]
"""A method a transport answers itself (eth_subscribe over WebSocket): the result, or
an RpcError value."""


class _ParseError:
    __slots__ = ()


PARSE_ERROR: Any = _ParseError()
"""What :func:`parse_rpc` makes of a body that is not JSON."""
TOO_DEEP: Any = _ParseError()
"""What :func:`parse_rpc` makes of a body nested deeper than MAX_JSON_DEPTH (never
decoded: see depth.py)."""

_NO_ID = object()
VERIFICATION: Final = "x-verification"
"""The response header saying what was proven about a single call's result."""
_INT64_MIN, _UINT64_MAX = -(1 << 63), (1 << 64) - 1


class Single(msgspec.Struct):
    """A lone call, decoded typed (the common case, and the fast lane's: ~1.5x faster
    than a dict); anything else is decoded as plain JSON."""

    jsonrpc: Any
    method: Any
    params: Any = msgspec.field(default_factory=list)
    id: Any = msgspec.UNSET

    def as_dict(self) -> dict[str, Any]:
        doc = {"jsonrpc": self.jsonrpc, "method": self.method, "params": self.params}
        if self.id is not msgspec.UNSET:
            doc["id"] = self.id
        return doc


_decode_single = msgspec.json.Decoder(Single).decode


def parse_rpc(body: bytes | str) -> Any:
    """A :class:`Single`, the decoded document, PARSE_ERROR or TOO_DEEP (never raises)."""
    if too_deep(body):
        return TOO_DEEP
    try:
        return _decode_single(body)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        pass  # (msgspec < 0.23 raised UnicodeDecodeError for invalid UTF-8 in a string;
        # orjson below answers any body msgspec could not read)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return PARSE_ERROR


def error_bytes(req_id: Any, code: int, message: str, data: Any = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": req_id, "error": err})


def _valid_id(value: Any) -> bool:
    kind = type(value)
    return kind is str or value is None or (kind is int and _INT64_MIN <= value <= _UINT64_MAX)


def _check(item: Any) -> tuple[Any, tuple[int, str] | None]:
    """(the id to answer with, or _NO_ID for a notification; the problem, if any)."""
    if not isinstance(item, dict):
        return None, (-32600, "Invalid Request")
    if "id" in item:
        req_id = item["id"]
        if not _valid_id(req_id):
            return None, (-32600, "Invalid Request: id must be a string, an integer or null")
    else:
        req_id = _NO_ID
    method = item.get("method")
    if item.get("jsonrpc") != "2.0" or not isinstance(method, str):
        # not a request at all, so not a notification either: answered
        return (None if req_id is _NO_ID else req_id,
                (-32600, "Invalid Request" if isinstance(method, str)
                 else "Invalid Request: method must be a string"))
    params = item.get("params", [])
    if not isinstance(params, list):
        return req_id, (-32602, "Invalid params: params must be an array")
    try:
        orjson.dumps(params)  # what goes upstream and into cache keys must encode again
    except TypeError:
        return req_id, (-32602, "Invalid params: a number is out of range (at most 64 bits)")
    if not method_allowed(method):
        return req_id, (-32601, f"Method not allowed: {method[:64]}")
    return req_id, None


class RpcAnswerer:
    """Decoded JSON-RPC documents in, encoded answers out, within the limits."""

    def __init__(self, service: RpcService, limits: RpcLimits) -> None:
        self.service = service
        self.limits = limits

    async def answer(self, doc: Any, local: dict[str, LocalMethod] | None = None,
                     proof: list[str] | None = None) -> bytes | None:
        """The whole answer to a decoded body or message; None when there is nothing
        to answer (only notifications). ``proof``, if given, gets the X-Verification
        value of a single call answered with a result, or of a batch (the weakest level
        among its calls answered with a result)."""
        if type(doc) is Single:
            doc = doc.as_dict()
        if doc is PARSE_ERROR:
            return error_bytes(None, -32700, "Parse error")
        if doc is TOO_DEEP:
            return error_bytes(None, -32600, f"Invalid Request: nested deeper than "
                               f"{MAX_JSON_DEPTH} levels", {"limit": MAX_JSON_DEPTH})
        if isinstance(doc, list):
            if not doc:
                return error_bytes(None, -32600, "Invalid Request: empty batch")
            if len(doc) > self.limits.max_batch:
                return b"[" + self.batch_too_large(doc) + b"]"
            parts = [a for a in await self.items(doc, local, proof) if a is not None]
            return b"[" + b",".join(parts) + b"]" if parts else None
        return (await self.items([doc], local, proof))[0]

    def batch_too_large(self, doc: list[Any]) -> bytes:
        """As geth answers it: one error, with the id of the batch's first call."""
        first = next((i["id"] for i in doc if isinstance(i, dict) and _valid_id(i.get("id"))
                      and i.get("id") is not None), None)
        return error_bytes(first, -32600, f"batch too large: at most {self.limits.max_batch} "
                           "calls per batch", {"limit": self.limits.max_batch})

    async def items(self, items: list[Any], local: dict[str, LocalMethod] | None = None,
                    proof: list[str] | None = None) -> list[bytes | None]:
        """Encoded answers in item order; None for notifications. ``proof``: gets the
        X-Verification value of a single item answered with a result, or the weakest
        level among the items of a batch answered with a result."""
        answers: list[bytes | None] = [None] * len(items)
        ids: list[Any] = [None] * len(items)
        forward: list[tuple[int, Any, Call]] = []
        levels: list[str] = []
        """The X-Verification values of the items answered with a result."""
        for i, item in enumerate(items):
            req_id, problem = _check(item)
            ids[i] = req_id
            if problem is not None:
                if req_id is not _NO_ID:
                    answers[i] = error_bytes(req_id, *problem)
                continue
            call = Call(item["method"], tuple(item.get("params", ())))
            handler = local.get(call.method) if local else None
            if handler is None:
                forward.append((i, req_id, call))
            elif req_id is not _NO_ID:
                result = await handler(list(call.params))
                if not isinstance(result, RpcError):
                    levels.append(UNVERIFIED)
                answers[i] = _encode_answer(req_id, result)
            else:
                await handler(list(call.params))
        if forward:
            said: list[str] = []
            try:
                results: list[bytes | RpcError] = await self.service.answer(
                    [c for _, _, c in forward], said)
            except NodeError as exc:
                results = [RpcError(exc.jsonrpc_code, exc.message, exc.details)] * len(forward)
            if proof is not None and len(items) == 1 and said and \
                    not isinstance(results[0], RpcError):
                proof.append(said[0])
            for n, ((i, req_id, _), result) in enumerate(zip(forward, results, strict=True)):
                if req_id is not _NO_ID:
                    answers[i] = _splice(req_id, result)
                    if not isinstance(result, RpcError):
                        levels.append(said[n] if n < len(said) else UNVERIFIED)
        if proof is not None and len(items) > 1:
            label = weakest(levels)
            if label is not None:
                proof.append(label)
        room = self.limits.max_response
        for i, answer in enumerate(answers):
            if answer is None:
                continue
            room -= len(answer) + 1
            if room < 0:
                answers[i] = error_bytes(
                    ids[i], RESPONSE_TOO_LARGE,
                    f"response too large: at most {self.limits.max_response} bytes per answer",
                    {"limit": self.limits.max_response})
        return answers


def _splice(req_id: Any, result: bytes | RpcError) -> bytes:
    if isinstance(result, RpcError):
        return error_bytes(req_id, result.code, result.message, result.data)
    # the client's id and the encoded result
    return b"".join((b'{"jsonrpc":"2.0","id":', orjson.dumps(req_id), b',"result":', result, b"}"))


def _encode_answer(req_id: Any, result: Any) -> bytes:
    if isinstance(result, RpcError):
        return error_bytes(req_id, result.code, result.message, result.data)
    return _splice(req_id, orjson.dumps(result))


class RpcRoute:
    """POST /rpc or /rpc/{chainId} (and its CORS preflight). Bodies up to RPC_MAX_BODY_BYTES; a larger
    one is answered with a JSON-RPC error, not the REST envelope."""

    def __init__(self, service: RpcService, *, limits: RpcLimits | None = None,
                 cors: CorsPolicy | None = None, costs: Mapping[str, int] | None = None,
                 paths: tuple[str, ...] = ("/rpc",)) -> None:
        self._svc = service
        self.limits = limits or service.limits
        self.answerer = RpcAnswerer(service, self.limits)
        self._cors = cors if cors is not None and cors.enabled else None
        self._max_response = self.limits.max_response
        self.costs = dict(DEFAULT_COSTS if costs is None else costs)
        self.routes = [route for path in paths for route in (
            Route(path, ("POST",), self.handle, hit=self.hit, parse=self.parse,
                  max_body=self.limits.max_body, scope="rpc", cost=self.cost,
                  render_error=self.render_error),
            Route(path, ("OPTIONS",), self.preflight, hit=self.preflight_now))]
        """At each of ``paths``: /rpc for the default network, /rpc/{chainId} for each."""

    def cost(self, req: Request) -> int:
        """Units the request spends: the sum of its calls' costs (a body that is not
        JSON-RPC, or a batch refused whole, costs 1: it is answered with an error)."""
        doc = req.input
        if doc is UNPARSED:
            doc = req.input = parse_rpc(req.body)
        costs = self.costs
        if type(doc) is Single:
            return costs.get(doc.method, 1) if isinstance(doc.method, str) else 1
        if isinstance(doc, list):
            if not doc or len(doc) > self.limits.max_batch:
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

    @staticmethod
    def parse(req: Request) -> Any:
        return parse_rpc(req.body)

    # --- the fast lane ----------------------------------------------------------------
    def hit(self, req: Request) -> Response | None:
        """A single cacheable call answered from memory, or None."""
        doc = req.input
        if type(doc) is not Single:
            return None
        method = doc.method
        if method not in FAST_METHODS or doc.jsonrpc != "2.0":
            return None
        req_id = doc.id
        params = doc.params
        if type(params) is not list or req_id is msgspec.UNSET or not _valid_id(req_id):
            return None
        hit = self._svc.hit(method, params)
        if hit is None:
            return None
        result, proof = hit
        if len(result) > self._max_response:
            return None
        body = b"".join((b'{"jsonrpc":"2.0","id":', orjson.dumps(req_id), b',"result":',
                         result, b"}"))
        return Response(200, body, headers=[(VERIFICATION, proof)])

    def preflight_now(self, req: Request) -> Response:
        if self._cors is None:
            return Response(204, b"")
        return self._cors.preflight(req)

    async def preflight(self, req: Request) -> Response:
        return self.preflight_now(req)

    # --- the full path ----------------------------------------------------------------------
    async def handle(self, req: Request) -> Response:
        doc = req.input
        proof: list[str] = []
        answer = await self.answerer.answer(doc, proof=proof)
        headers: list[tuple[str, str]] = []  # (CORS fields: added by the adapters, cors.py)
        if answer is None:
            return Response(204, b"", headers=headers)
        if proof:
            headers.append((VERIFICATION, proof[0]))
        return Response(200, answer, headers=headers)

    def render_error(self, exc: NodeError, request_id: str) -> Response:
        """A request refused before its calls were looked at, in JSON-RPC: a body over
        the limit (HTTP 200, -32600), else a refusal of the guard (see the module doc)."""
        reason = (exc.details or {}).get("reason")
        if reason == "body_too_large":
            return Response(200, error_bytes(None, -32600, f"request body too large: at most "
                                             f"{self.limits.max_body} bytes",
                                             {"limit": self.limits.max_body}))
        return rpc_refusal(exc, request_id)


def rpc_refusal(exc: NodeError, request_id: str) -> Response:
    """A refusal of the whole request: its HTTP status and header fields, and one
    JSON-RPC error object with id null."""
    return Response(exc.http_status, error_bytes(None, exc.jsonrpc_code, exc.message,
                                                 exc.details), headers=list(exc.headers))
