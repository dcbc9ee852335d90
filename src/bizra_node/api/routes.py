"""The node's HTTP routes: validation (POST), resources (GET), health and readiness."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, cast

import msgspec

from ..errors import NodeError, NotFoundError
from ..observability import NodeMetrics
from ..validation import (
    Answer,
    ValidationService,
    is_uint,
    parse_address,
    parse_block_ref,
    parse_tx_hash,
)
from .envelope import ok_body, ok_parts, ok_value
from .http import Request, Response
from .inputs import (
    AddressRequest,
    BlockRequest,
    TransactionRequest,
    TransactionsRequest,
    json_input,
    unknown_network,
)
from .routing import Handler, Route

__all__ = ["ReadyCheck", "Routes", "network_not_found", "run_checks"]

ReadyCheck = Callable[[], Awaitable[dict[str, Any]]]
"""Returns {"ok": bool, ...details}; a check that raises counts as not ok."""

_encode = msgspec.json.Encoder().encode
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=2"
_HEALTH = b'{"success":true,"data":{"status":"ok"}}'
_CONSTANT = b'{"success":true,"data":{"constant":true}}'
_ITEM_OK = b'{"success":true,"data":'


class Routes:
    """Handlers bound to one ValidationService; ``routes`` lists them for the router.

    ``prefix``: where the validation routes live (``/api/v1`` for the default network,
    ``/api/v1/{networkId}`` for each network). ``services``: the networks a body's
    ``networkId`` may choose on these paths (by chain id; default: this service's
    alone). ``pinned``: the prefix names this service's network, so a body naming
    another is refused (``network_mismatch``). ``operations``: with /health and /ready
    (once per node). ``networks``: a
    node serving several networks: each one's readiness, reported under its chain id
    (see :meth:`readiness`)."""

    def __init__(self, service: ValidationService, *, ready_checks: dict[str, ReadyCheck],
                 bench_endpoints: bool = False, metrics: NodeMetrics | None = None,
                 prefix: str = "/api/v1",
                 services: Mapping[int, ValidationService] | None = None,
                 operations: bool = True, pinned: bool = False,
                 networks: Mapping[int, ReadyCheck] | None = None) -> None:
        self._svc = service
        self._ready_checks = ready_checks
        self._networks = dict(networks or {})
        self._ready_gauge = metrics.node_ready if metrics is not None and operations else None
        if self._ready_gauge is not None:
            self._ready_gauge.preset(())  # not ready until the first check says so
        network = service.network_id
        self._services = dict(services) if services else {network: service}
        served = tuple(self._services)

        def parser(kind: type[Any]) -> Callable[[Request], Any]:
            return json_input(kind, network, served, pinned=pinned)

        self._parse_batch = parser(TransactionsRequest)
        v = prefix
        self.routes: list[Route] = [
            Route(f"{v}/validate/transactions", ("POST",), self.validate_transactions,
                  parse=self._parse_batch, cost=self.batch_cost, scope="validate"),
            Route(f"{v}/validate/transaction", ("POST",), self.validate_transaction,
                  hit=self.hit_transaction, parse=parser(TransactionRequest),
                  scope="validate"),
            Route(f"{v}/validate/block", ("POST",), self.validate_block,
                  hit=self.hit_block, parse=parser(BlockRequest),
                  scope="validate"),
            Route(f"{v}/validate/address", ("POST",), self.validate_address,
                  hit=self.hit_address, parse=parser(AddressRequest),
                  scope="validate"),
            Route(f"{v}/validate/block-number", ("GET",), self.block_number,
                  scope="validate"),
            Route(f"{v}/transactions/{{hash}}", ("GET",), self.get_transaction,
                  hit=self.hit_get_transaction, scope="validate"),
            Route(f"{v}/blocks/{{number}}", ("GET",), self.get_block, hit=self.hit_get_block,
                  scope="validate"),
            Route(f"{v}/addresses/{{address}}", ("GET",), self.get_address,
                  hit=self.hit_get_address, scope="validate"),
        ]
        if operations:
            self.routes += [Route("/health", ("GET",), self.health, hit=self.health_now),
                            Route("/ready", ("GET",), self.ready)]
            if self._networks:  # one network's readiness, for a balancer per network
                self.routes.append(Route("/ready/{chainId}", ("GET",), self.ready_network))
        if bench_endpoints:  # the ceiling the hit path is measured against takes this lane too
            self.routes.append(Route("/_bench/constant", ("GET", "POST"), self.constant,
                                     hit=self.constant_now))

    def _service(self, requested: int | None) -> ValidationService:
        """The network a body's ``networkId`` chose (the parse let only served ones by)."""
        return self._svc if requested is None else self._services[requested]

    # --- POST validation ----------------------------------------------------------
    # The input was decoded and checked once by the route's parse (req.input); the
    # service answers with encoded bytes (from cache when it may); only the request
    # id is spliced in here.
    async def validate_transaction(self, req: Request) -> Response:
        body = cast(TransactionRequest, req.input)
        answer = await self._service(body.networkId).transaction_answer(
            parse_tx_hash(body.txHash))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def validate_transactions(self, req: Request) -> Response:
        """Up to 100 transactions, one envelope: cached answers at once, the others
        concurrently; a hash's failure is its own item, never the request's."""
        body = cast(TransactionsRequest, req.input)
        for i, tx_hash in enumerate(body.txHashes):  # one bad hash: the request's 400
            parse_tx_hash(tx_hash, f"txHashes[{i}]")
        svc = self._service(body.networkId)
        items: list[bytes] = []
        misses: dict[int, str] = {}
        for i, tx_hash in enumerate(body.txHashes):
            answer = svc.transaction_hit(tx_hash)
            if answer is None:
                misses[i] = tx_hash
                items.append(b"")
            else:
                items.append(b"".join((_ITEM_OK, *answer.parts, b"}")))
        if misses:
            answered = await asyncio.gather(*(self._batch_item(svc, h)
                                              for h in misses.values()))
            for i, item in zip(misses, answered, strict=True):
                items[i] = item
        return Response(200, ok_body(b"".join((b'{"results":[', b",".join(items), b"]}")),
                                     req.request_id))

    async def _batch_item(self, svc: ValidationService, tx_hash: str) -> bytes:
        try:
            answer = await svc.transaction_answer(parse_tx_hash(tx_hash))
        except NodeError as exc:
            return b"".join((b'{"success":false,"status":', str(exc.http_status).encode(),
                             b',"error":', _encode(exc.to_dict()), b"}"))
        return b"".join((_ITEM_OK, *answer.parts, b"}"))

    def batch_cost(self, req: Request) -> int:
        """One unit per hash (as many single requests would spend); a body that does not
        parse costs 1 and is refused by the route's parse with its 400."""
        try:
            body = self._parse_batch(req)
        except NodeError:
            return 1
        req.input = body
        return len(body.txHashes)

    async def validate_block(self, req: Request) -> Response:
        body = cast(BlockRequest, req.input)
        answer = await self._service(body.networkId).block_answer(
            parse_block_ref(body.blockNumber))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def validate_address(self, req: Request) -> Response:
        body = cast(AddressRequest, req.input)
        answer = await self._service(body.networkId).address_answer(
            parse_address(body.address))
        return Response(200, ok_parts(answer.parts, req.request_id))

    async def block_number(self, req: Request) -> Response:
        head = await self._svc.chain.head()
        return Response(200, ok_value({"blockNumber": head}, req.request_id))

    # --- the fast lane: L1 hits, answered without awaiting ------------------------------
    # The raw value is looked up as it came: L1 holds only canonical keys that passed
    # validation, so a hit proves the input valid. Anything else declines (None).
    def hit_transaction(self, req: Request) -> Response | None:
        body = cast(TransactionRequest, req.input)
        network = body.networkId  # (inline, not _service: this is the hit path)
        svc = self._svc if network is None else self._services[network]
        answer = svc.transaction_hit(body.txHash)
        return None if answer is None else Response(200, ok_parts(answer.parts, req.request_id))

    def hit_block(self, req: Request) -> Response | None:
        body = cast(BlockRequest, req.input)
        number = body.blockNumber
        if type(number) is not int or number < 0:
            return None
        network = body.networkId
        svc = self._svc if network is None else self._services[network]
        answer = svc.block_hit(str(number))
        return None if answer is None else Response(200, ok_parts(answer.parts, req.request_id))

    def hit_address(self, req: Request) -> Response | None:
        body = cast(AddressRequest, req.input)
        network = body.networkId
        svc = self._svc if network is None else self._services[network]
        answer = svc.address_hit(body.address)
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
        if not is_uint(param) or (param[0] == "0" and len(param) > 1):
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

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the node is ready, and each check's report; kept in ``node_ready``
        (the node runs this every 15 s too, so an alert sees readiness without a probe).
        Serving several networks: the node's own checks (database, keys) must pass and
        at least one network be ready; each network reports under ``networks``, by chain
        id (one whose upstreams are down is not ready, the others still are)."""
        checks = await run_checks(self._ready_checks)
        ready = all(c.get("ok") for c in checks.values())
        if self._networks:
            networks = await run_checks({str(k): v for k, v in self._networks.items()})
            checks["networks"] = networks
            ready = ready and any(n.get("ok") for n in networks.values())
        if self._ready_gauge is not None:
            self._ready_gauge.set(1.0 if ready else 0.0)
        return ready, checks

    async def ready(self, req: Request) -> Response:
        ready, checks = await self.readiness()
        status = "ready" if ready else "not_ready"
        networks = checks.pop("networks", None)
        data: dict[str, Any] = {"status": status, "checks": checks}
        if networks is not None:
            if ready and not all(n.get("ok") for n in networks.values()):
                data["status"] = "degraded"  # some network is not: the others serve
            data["networks"] = networks
        body = _encode({"success": ready, "data": data,
                        "meta": {"requestId": req.request_id}})
        return Response(200 if ready else 503, body)

    async def ready_network(self, req: Request) -> Response:
        """GET /ready/{chainId}: the node's own checks and that network's; 503 unless
        all pass (another network's upstreams being down does not count)."""
        param = req.param
        # written as the other paths name it (/rpc/10): "010" is no network, as /rpc/010
        # is no route
        canonical = is_uint(param) and len(param) < 20 and (param[0] != "0" or param == "0")
        network = int(param) if canonical else None
        if network is None or network not in self._networks:
            raise unknown_network(param[:20], self._networks)
        checks = await run_checks(self._ready_checks)
        report = (await run_checks({param: self._networks[network]}))[param]
        ready = all(c.get("ok") for c in checks.values()) and bool(report.get("ok"))
        data = {"status": "ready" if ready else "not_ready", "checks": checks,
                "network": report}
        body = _encode({"success": ready, "data": data, "meta": {"requestId": req.request_id}})
        return Response(200 if ready else 503, body)


async def run_checks(named: Mapping[str, ReadyCheck]) -> dict[str, Any]:
    """Each readiness check's report; one that raises is reported not ok."""
    checks: dict[str, Any] = {}
    for name, check in named.items():
        try:
            checks[name] = await check()
        except NodeError as exc:
            checks[name] = {"ok": False, "error": exc.message}
        except Exception as exc:  # a readiness probe reports, it never fails
            checks[name] = {"ok": False, "error": type(exc).__name__}
    return checks


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


_NETWORK_PATH = re.compile(r"/(?:api/v1|rpc)/([0-9]{1,19})(?:/|$)")


def network_not_found(served: Collection[int]) -> Handler:
    """The answer to a path no route has: a 400 (reason ``unsupported_network``) when
    it names a network the node does not serve (``/rpc/5``, ``/api/v1/5/...``), else
    the usual 404."""
    known = frozenset(served)

    async def not_found(req: Request) -> Response:
        found = _NETWORK_PATH.match(req.path)
        if found is not None and int(found.group(1)) not in known:
            raise unknown_network(int(found.group(1)), known)
        raise NotFoundError(f"no route for {req.method} {req.path[:200]}")

    return not_found
