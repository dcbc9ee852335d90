"""OpenAPI 3.1 document generated from the msgspec types (never written by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import __version__
from ..validation import (
    ADDRESS_PATTERN,
    BLOCK_REF_PATTERN,
    HASH_PATTERN,
    UINT_PATTERN,
    AccountResult,
    BlockResult,
    TransactionResult,
)
from .http import Request, Response
from .inputs import AddressRequest, BlockRequest, TransactionRequest, TransactionsRequest
from .routing import Route

__all__ = ["openapi_document", "openapi_routes"]

_REF = "#/components/schemas/{name}"
_SUBJECT_PATTERN = f"(?:{HASH_PATTERN})|(?:{ADDRESS_PATTERN})|(?:{UINT_PATTERN})"


class ErrorBody(msgspec.Struct):
    code: str
    message: str
    details: dict[str, Any] | None = None


class Meta(msgspec.Struct):
    requestId: str


class ErrorEnvelope(msgspec.Struct):
    success: bool
    error: ErrorBody
    meta: Meta


class BlockNumber(msgspec.Struct):
    blockNumber: int


def _envelope(ref: str) -> dict[str, Any]:
    return {"type": "object", "required": ["success", "data", "meta"], "properties": {
        "success": {"type": "boolean"}, "data": {"$ref": _REF.format(name=ref)},
        "meta": {"$ref": _REF.format(name="Meta")}}}


_UNPROVEN = ("UPSTREAM_UNAVAILABLE, or UNPROVEN: TRUST_REQUIRE=proven and no upstream would "
             "prove the account (details.reason: proof_unavailable)")
_VALID = ("true: proven (verification says how far); false: refused (an upstream's answer "
          "failed a check, verification.failure names it); null: no upstream would prove it, "
          "the data is the upstreams' word (verification.level: unverified)")


_TX_VALID = ("true: proven (verification says how far, verification.unproven what not); "
             "false: refused or not found; null: a transaction type the node cannot encode "
             "(Arbitrum's), the data the upstream's word (verification.level: unverified, "
             "verification.unproven names the type)")


def _answers(ref: str, *, cached: bool = False) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "the answer",
                          "content": {"application/json": {"schema": _envelope(ref)}}}
    err = {"content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorEnvelope")}}}}
    out: dict[str, Any] = {
        "200": ok,
        "400": {"description": "VALIDATION_ERROR: bad input; CALL_REJECTED: the upstream "
                "refused the call itself (details.rpcCode, details.rpcMessage)", **err},
        "405": {"description": "METHOD_NOT_ALLOWED (the Allow header names the methods)",
                **err},
        "408": {"description": "REQUEST_TIMEOUT: the body did not arrive in time", **err},
        "503": {"description": _UNPROVEN if ref == "AccountResult" else "UPSTREAM_UNAVAILABLE",
                **err},
    }
    if cached:
        out["304"] = {"description": "not modified (If-None-Match)"}
    return out


def _body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": _REF.format(name=ref)}}}}


def _param(name: str, desc: str, pattern: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "description": desc,
             "schema": {"type": "string", "pattern": pattern}}]


def _query(name: str, desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": schema}


def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [TransactionRequest, TransactionsRequest, BlockRequest, AddressRequest,
         TransactionResult, BlockResult, AccountResult, ErrorEnvelope, Meta, BlockNumber],
        ref_template=_REF)
    components["AccountResult"]["properties"]["valid"]["description"] = _VALID
    components["TransactionResult"]["properties"]["valid"]["description"] = _TX_VALID
    paths: dict[str, Any] = {
        "/api/v1/validate/transaction": {"post": {
            "summary": "Validate a transaction", "requestBody": _body("TransactionRequest"),
            "responses": _answers("TransactionResult")}},
        "/api/v1/validate/transactions": {"post": {
            "summary": "Validate up to 100 transactions in one request",
            "description": "data.results lists one envelope per hash, in the order given: "
                           "{success: true, data: <TransactionResult>} or {success: false, "
                           "status: <the HTTP status a single request would get>, error}. "
                           "Each hash spends one unit of the caller's rate limit.",
            "requestBody": _body("TransactionsRequest"),
            "responses": {"200": {"description": "one result per hash, in order"},
                          "400": {"description": "VALIDATION_ERROR: not 1 to 100 hashes, "
                                                 "or a malformed one (named in details)"}}}},
        "/api/v1/validate/block": {"post": {
            "summary": "Validate a block (number or 'latest')", "requestBody": _body("BlockRequest"),
            "responses": _answers("BlockResult")}},
        "/api/v1/validate/address": {"post": {
            "summary": "Validate an address", "requestBody": _body("AddressRequest"),
            "responses": _answers("AccountResult")}},
        "/api/v1/validate/block-number": {"get": {
            "summary": "Current head block number", "responses": _answers("BlockNumber")}},
        "/api/v1/transactions/{hash}": {"get": {
            "summary": "A transaction as a cacheable resource",
            "parameters": _param("hash", "0x-prefixed 32-byte hash", HASH_PATTERN),
            "responses": _answers("TransactionResult", cached=True)}},
        "/api/v1/blocks/{number}": {"get": {
            "summary": "A block as a cacheable resource",
            "parameters": _param("number", "decimal number, 0x quantity, or latest / finalized / safe",
                                 BLOCK_REF_PATTERN),
            "responses": _answers("BlockResult", cached=True)}},
        "/api/v1/addresses/{address}": {"get": {
            "summary": "An account as a resource",
            "parameters": _param("address", "0x-prefixed 20-byte address (mixed case: EIP-55)",
                                 ADDRESS_PATTERN),
            "responses": _answers("AccountResult", cached=True)}},
        "/api/v1/validations": {"get": {
            "summary": "Validation history from PostgreSQL, filtered, keyset-paginated",
            "parameters": [
                _query("kind", "transaction | block | address", {"type": "string", "enum": [
                    "transaction", "block", "address"]}),
                _query("subject", "a tx hash, block number or address", {
                    "type": "string", "pattern": _SUBJECT_PATTERN}),
                _query("valid", "true | false", {"type": "boolean"}),
                _query("reorged", "true: only validations whose block a reorg replaced; "
                       "false: only those standing", {"type": "boolean"}),
                _query("from", "ISO 8601 time, inclusive", {"type": "string",
                                                            "format": "date-time"}),
                _query("to", "ISO 8601 time, exclusive", {"type": "string",
                                                          "format": "date-time"}),
                _query("limit", "page size", {"type": "integer", "minimum": 1,
                                              "maximum": 500, "default": 50}),
                _query("cursor", "nextCursor of the previous page", {"type": "string"}),
                _query("networkId", "only this network's validations (a chain id the node "
                       "serves)", {"type": "integer", "minimum": 1}),
            ],
            "responses": {"200": {"description": "{items, nextCursor} in the envelope"},
                          "400": {"description": "VALIDATION_ERROR: a bad filter"},
                          "503": {"description": "the database is not available"}}}},
        "/rpc": {"post": {
            "summary": "JSON-RPC 2.0 request or batch (eth_*, net_*, web3_* reads)",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"oneOf": [{"type": "object"}, {"type": "array", "maxItems": 100}]}}}},
            "responses": {"200": {
                "description": "JSON-RPC answer(s); errors as error objects (-32099: no "
                               "upstream's answer passed the node's checks)",
                "headers": {"X-Verification": {
                    "description": "a single call's result: what was proven, e.g. 'anchored; "
                                   "anchor=quorum; anchor-number=N; anchor-hash=0x..; "
                                   "checks=header_hash,account_proof,parent_link', "
                                   "'consistent; checks=..' or 'unverified' (docs/trust.md)",
                    "schema": {"type": "string"}}}},
                          "204": {"description": "notifications only"}}}},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
        "/ready": {"get": {"summary": "Readiness with per-dependency checks", "responses": {
            "200": {"description": "ready"}, "503": {"description": "a dependency is down"}}}},
    }
    for path, scope in _SCOPES.items():
        for operation in paths[path].values():
            _guarded(operation, scope)
    return {"openapi": "3.1.0",
            "info": {"title": "BIZRA-NODE0", "version": __version__,
                     "description": "Validation node for EVM-compatible chains. These "
                     "paths serve the default network; each network the node serves has "
                     "them under its chain id too: /api/v1/{networkId}/validate/..., "
                     "/api/v1/{networkId}/transactions/{hash} (and blocks, addresses, "
                     "validations), /rpc/{chainId}. A body's networkId picks a served "
                     "network on the paths without one; another is a 400 "
                     "(details.reason unsupported_network); on a path naming a network, "
                     "another networkId is a 400 (details.reason network_mismatch)."},
            "paths": paths,
            "components": {"schemas": components, "securitySchemes": _SECURITY_SCHEMES}}


_SCOPES = {
    "/api/v1/validate/transaction": "validate", "/api/v1/validate/transactions": "validate",
    "/api/v1/validate/block": "validate",
    "/api/v1/validate/address": "validate", "/api/v1/validate/block-number": "validate",
    "/api/v1/transactions/{hash}": "validate", "/api/v1/blocks/{number}": "validate",
    "/api/v1/addresses/{address}": "validate", "/api/v1/validations": "history",
    "/rpc": "rpc"}
"""The scope each documented route needs (the routes declare the same; a test checks)."""

_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key (`bizra-node keys create`): Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "The same key in X-API-Key"}}


def _guarded(operation: dict[str, Any], scope: str) -> None:
    """A route behind the guard: a key with ``scope`` (none needed when API_KEYS_MODE
    is off, or optional and the scope is anonymous), and the guard's refusals."""
    operation["security"] = [{"bearer": []}, {"apiKey": []}, {}]
    operation["x-scope"] = scope
    err = {"content": {"application/json": {"schema": {"$ref": _REF.format(
        name="ErrorEnvelope")}}}} if scope != "rpc" else {}
    responses = operation.setdefault("responses", {})
    responses.setdefault("401", {"description": "AUTHENTICATION_ERROR: no key, or an unknown "
                                                "or revoked one (WWW-Authenticate)", **err})
    responses.setdefault("403", {"description": f"AUTHORIZATION_ERROR: the key lacks scope "
                                                f"{scope}", **err})
    responses.setdefault("429", {"description": "RATE_LIMIT_EXCEEDED (Retry-After, RateLimit, "
                                                "RateLimit-Policy)", **err})


def openapi_routes() -> list[Route]:
    """GET /openapi.json, encoded once."""
    document = msgspec.json.encode(openapi_document())

    async def serve(req: Request) -> Response:
        return Response(200, document)

    return [Route("/openapi.json", ("GET",), serve)]
