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
from .envelope import ok_body, ok_value
from .http import Request, Response
from .inputs import AddressRequest, BlockRequest, TransactionRequest, decode_body

__all__ = ["Handler", "ReadyCheck", "Routes"]

Handler = Callable[[Request], Awaitable[Response]]
ReadyCheck = Callable[[], Awaitable[dict[str, Any]]]
"""Returns {"ok": bool, ...details}; a check that raises counts as not ok."""

_encode = msgspec.json.Encoder().encode
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=2"
_HEALTH = b'{"success":true,"data":{"status":"ok"}}'
_CONSTANT = b'{"success":true,"data":{"constant":true}}'


def _require_json(req: Request) -> None:
    ctype = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
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
        return Response(200, ok_body(answer.body, req.request_id))

    async def validate_block(self, req: Request) -> Response:
        _require_json(req)
        body = decode_body(req.body, BlockRequest)
        self._check_network(body.networkId)
        answer = await self._svc.block_answer(parse_block_ref(body.blockNumber))
        return Response(200, ok_body(answer.body, req.request_id))

    async def validate_address(self, req: Request) -> Response:
        _require_json(req)
        body = decode_body(req.body, AddressRequest)
        self._check_network(body.networkId)
        answer = await self._svc.address_answer(parse_address(body.address))
        return Response(200, ok_body(answer.body, req.request_id))

    async def block_number(self, req: Request) -> Response:
        head = await self._svc.head()
        return Response(200, ok_value({"blockNumber": head}, req.request_id))

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


def _resource(req: Request, answer: Answer) -> Response:
    """An answer as a cacheable resource: final answers are immutable with an ETag
    naming their identity; others get an ETag over their data and a short max-age.
    (A block named by a tag -- latest, finalized -- is never final as a resource.)"""
    etag = answer.etag
    headers = [("cache-control", IMMUTABLE if answer.final else SHORT), ("etag", etag)]
    inm = req.header("if-none-match")
    if inm and (inm.strip() == "*" or etag in (t.strip() for t in inm.split(","))):
        return Response(304, b"", headers=headers)
    return Response(200, ok_body(answer.body, req.request_id), headers=headers)
