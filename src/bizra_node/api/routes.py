"""The node's HTTP routes: validation (POST), resources (GET), health and readiness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ..errors import NodeError, ValidationError
from ..validation import (
    Answer,
    ValidationService,
    parse_address,
    parse_block_ref,
    parse_tx_hash,
)
from .envelope import ok_parts, ok_value
from .http import Request, Response
from .inputs import AddressRequest, BlockRequest, TransactionRequest, decode_body

__all__ = ["FastHandler", "Handler", "ReadyCheck", "Routes"]

Handler = Callable[[Request], Awaitable[Response]]
FastHandler = Callable[[Request], "Response | None"]
"""Answers from memory or declines with None (see Dispatcher.answer_now)."""
ReadyCheck = Callable[[], Awaitable[dict[str, Any]]]
"""Returns {"ok": bool, ...details}; a check that raises counts as not ok."""

_encode = msgspec.json.Encoder().encode
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=2"
_HEALTH = b'{"success":true,"data":{"status":"ok"}}'
_CONSTANT = b'{"success":true,"data":{"constant":true}}'
_JSON = "application/json"
_decode_tx = msgspec.json.Decoder(TransactionRequest).decode
_decode_block = msgspec.json.Decoder(BlockRequest).decode
_decode_address = msgspec.json.Decoder(AddressRequest).decode


def _require_json(req: Request) -> None:
    ctype = req.header("content-type")
    if ctype == "application/json":  # what nearly every client sends: no parsing
        return
    ctype = (ctype or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":
        raise ValidationError("Content-Type must be application/json",
                              {"reason": "unsupported_media_type", "contentType": ctype or None})


class Routes:
    """Handlers bound to one ValidationService; ``table`` and ``prefixes`` feed the router."""

    def __init__(self, service: ValidationService, *, ready_checks: dict[str, ReadyCheck],
                 bench_endpoints: bool = False) -> None:
        self._svc = service
        self._ready_checks = ready_checks
        self.table: dict[tuple[str, str], Handler] = {
            ("POST", "/api/v1/validate/transaction"): self.validate_transaction,
            ("POST", "/api/v1/validate/block"): self.validate_block,
            ("POST", "/api/v1/validate/address"): self.validate_address,
            ("GET", "/api/v1/validate/block-number"): self.block_number,
            ("GET", "/health"): self.health,
            ("GET", "/ready"): self.ready,
        }
        if bench_endpoints:
            self.table[("GET", "/_bench/constant")] = self.constant
            self.table[("POST", "/_bench/constant")] = self.constant
        self.prefixes: list[tuple[str, str, Handler]] = [
            ("GET", "/api/v1/transactions/", self.get_transaction),
            ("GET", "/api/v1/blocks/", self.get_block),
            ("GET", "/api/v1/addresses/", self.get_address),
        ]
        self.fast: dict[tuple[str, str], FastHandler] = {
            ("POST", "/api/v1/validate/transaction"): self.hit_transaction,
            ("POST", "/api/v1/validate/block"): self.hit_block,
            ("POST", "/api/v1/validate/address"): self.hit_address,
            ("GET", "/api/v1/transactions/"): self.hit_get_transaction,
            ("GET", "/api/v1/blocks/"): self.hit_get_block,
            ("GET", "/api/v1/addresses/"): self.hit_get_address,
            ("GET", "/health"): self.health_now,
        }
        if bench_endpoints:  # the ceiling the hit path is measured against takes this lane too
            self.fast[("GET", "/_bench/constant")] = self.constant_now
            self.fast[("POST", "/_bench/constant")] = self.constant_now

    def _check_network(self, network_id: int | None) -> None:
        if network_id is not None and network_id != self._svc.network_id:
            raise ValidationError("this node does not serve that network",
                                  {"reason": "unsupported_network", "networkId": network_id,
                                   "served": self._svc.network_id})

    # --- POST validation ----------------------------------------------------------
    # The service answers with encoded bytes (from cache when it may); only the
    # request id is spliced in here.
    async def validate_transaction(self, req: Request) -> Response:
        _require_json(req)
        body = decode_body(req.body, TransactionRequest)
        self._check_network(body.networkId)
        answer = await self._svc.transaction_answer(parse_tx_hash(body.txHash))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def validate_block(self, req: Request) -> Response:
        _require_json(req)
        body = decode_body(req.body, BlockRequest)
        self._check_network(body.networkId)
        answer = await self._svc.block_answer(parse_block_ref(body.blockNumber))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def validate_address(self, req: Request) -> Response:
        _require_json(req)
        body = decode_body(req.body, AddressRequest)
        self._check_network(body.networkId)
        answer = await self._svc.address_answer(parse_address(body.address))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def block_number(self, req: Request) -> Response:
        head = await self._svc.head()
        return Response(200, ok_value({"blockNumber": head}, req.request_id))

    # --- the fast lane: L1 hits, answered without awaiting ------------------------------
    # Input is not parsed here: the service looks the raw value up, and L1 holds only
    # canonical keys that passed validation. Anything else declines (None).
    def _served(self, network_id: int | None) -> bool:
        return network_id is None or network_id == self._svc.network_id

    def hit_transaction(self, req: Request) -> Response | None:
        if req.header("content-type") != _JSON:
            return None
        body = _decode_tx(req.body)
        answer = self._svc.transaction_hit(body.txHash) if self._served(body.networkId) else None
        return None if answer is None else Response(200, ok_parts(answer.parts, req.request_id))

    def hit_block(self, req: Request) -> Response | None:
        if req.header("content-type") != _JSON:
            return None
        body = _decode_block(req.body)
        number = body.blockNumber
        if type(number) is not int or number < 0 or not self._served(body.networkId):
            return None
        answer = self._svc.block_hit(str(number))
        return None if answer is None else Response(200, ok_parts(answer.parts, req.request_id))

    def hit_address(self, req: Request) -> Response | None:
        if req.header("content-type") != _JSON:
            return None
        body = _decode_address(req.body)
        answer = self._svc.address_hit(body.address) if self._served(body.networkId) else None
        return None if answer is None else Response(200, ok_parts(answer.parts, req.request_id))

    def health_now(self, req: Request) -> Response:
        return Response(200, _HEALTH)

    def constant_now(self, req: Request) -> Response:
        return Response(200, _CONSTANT)

    def hit_get_transaction(self, req: Request) -> Response | None:
        answer = self._svc.transaction_hit(req.param)
        return None if answer is None else _resource(req, answer)

    def hit_get_block(self, req: Request) -> Response | None:
        param = req.param
        if not param.isdigit() or (param[0] == "0" and len(param) > 1):
            return None  # tags and non-canonical numbers: the full path
        answer = self._svc.block_hit(param)
        return None if answer is None else _resource(req, answer)

    def hit_get_address(self, req: Request) -> Response | None:
        answer = self._svc.address_hit(req.param)
        return None if answer is None else _resource(req, answer)

    # --- GET resources --------------------------------------------------------------
    async def get_transaction(self, req: Request) -> Response:
        return _resource(req, await self._svc.transaction_answer(parse_tx_hash(req.param, "hash")))

    async def get_block(self, req: Request) -> Response:
        return _resource(req, await self._svc.block_answer(parse_block_ref(req.param, "number")))

    async def get_address(self, req: Request) -> Response:
        return _resource(req, await self._svc.address_answer(parse_address(req.param)))

    # --- operations ------------------------------------------------------------------
    async def health(self, req: Request) -> Response:
        return Response(200, _HEALTH)

    async def constant(self, req: Request) -> Response:
        return Response(200, _CONSTANT)

    async def ready(self, req: Request) -> Response:
        checks: dict[str, Any] = {}
        for name, check in self._ready_checks.items():
            try:
                checks[name] = await check()
            except NodeError as exc:
                checks[name] = {"ok": False, "error": exc.message}
            except Exception as exc:  # a readiness probe reports, it never fails
                checks[name] = {"ok": False, "error": type(exc).__name__}
        ready = all(c.get("ok") for c in checks.values())
        data = {"status": "ready" if ready else "not_ready", "checks": checks}
        body = _encode({"success": ready, "data": data,
                        "meta": {"requestId": req.request_id}})
        return Response(200 if ready else 503, body)


_IMMUTABLE = ("cache-control", IMMUTABLE)
_SHORT = ("cache-control", SHORT)


def _resource(req: Request, answer: Answer) -> Response:
    """An answer as a cacheable resource: final answers are immutable with an ETag
    naming their identity; others get an ETag over their data and a short max-age.
    (A block named by a tag -- latest, finalized -- is never final as a resource.)"""
    entry = answer.entry
    if entry.final:
        etag = entry.etag
        headers = [_IMMUTABLE, ("etag", etag)]
    else:
        etag = answer.etag
        headers = [_SHORT, ("etag", etag)]
    inm = req.header("if-none-match")
    if inm and (inm.strip() == "*" or etag in (t.strip() for t in inm.split(","))):
        return Response(304, b"", headers=headers)
    return Response(200, ok_parts(answer.parts, req.request_id), headers=headers)
